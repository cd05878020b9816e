//! The EMS HTTP edge (actix-web + paperclip) and the composition root of the `ems`
//! binary. No business rule lives here: handlers turn DTOs into use-case calls and
//! errors into the contract's body.

pub mod backup;
pub mod config;
pub mod dto;
pub mod http;
pub mod metrics;
pub mod routes;
pub mod startup;
pub mod system;
pub mod telemetry;
pub mod tls;
