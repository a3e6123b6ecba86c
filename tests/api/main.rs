//! Black-box tests: the real service over real HTTP, on SQLite, or on PostgreSQL when
//! `TEST_DATABASE_URL` is set.

mod allocations;
mod attacks;
mod audit;
mod auth;
mod authorization;
mod calendar;
mod charts;
mod configuration;
mod consistency;
mod console;
mod data_dir;
mod demo;
mod errors;
mod faults;
mod hardening;
mod headers;
mod helpers;
mod idempotency;
mod imports;
mod lifecycle;
mod logs;
mod notifications;
mod operations;
mod organizations;
mod questions;
mod receiver;
mod seed;
mod smtp;
mod tokens;
mod users;
mod webhooks;
