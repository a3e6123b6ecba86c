//! Operations that span several tables and must run in one transaction: used by the handlers and
//! by the scheduler alike.

pub mod participations;
pub mod procurements;
pub mod rounds;
