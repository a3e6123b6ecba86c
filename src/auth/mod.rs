//! Who is calling: passwords, access tokens, refresh tokens, API tokens and the login throttle.

pub mod identity;
pub mod jwt;
pub mod login;
pub mod password;
pub mod secret;
pub mod throttle;

pub use identity::Identity;
