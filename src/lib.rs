//! Joint-procurement coordination service for the municipalities of Nagano Prefecture.

pub mod auth;
pub mod bootstrap;
pub mod cache;
pub mod clock;
pub mod config;
pub mod db;
pub mod demo;
pub mod domain;
pub mod error;
pub mod idempotency;
pub mod metrics;
pub mod notify;
pub mod openapi;
pub mod reply;
pub mod request_target;
pub mod routes;
pub mod scheduler;
pub mod security_headers;
pub mod service;
pub mod startup;
pub mod state;
pub mod telemetry;
pub mod web;
pub mod write_queue;
