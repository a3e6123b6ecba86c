//! Rules that know nothing of HTTP or SQL: the values the rest of the service may trust.

pub mod allocation;
pub mod audit;
pub mod contact;
pub mod email;
pub mod field_error;
pub mod fiscal_year;
pub mod id;
pub mod lg_code;
pub mod limits;
pub mod notification;
pub mod organization;
pub mod participation;
pub mod password;
pub mod procurement;
pub mod round;
pub mod text;
pub mod user;
pub mod webhook;
