//! Ids, identifiers, signed statements, API request/response types and error codes shared by the
//! hub and every client; no I/O, builds for wasm.
//!
//! ```
//! use medshare_model::identifiers::PatientIdentifier;
//! let id: PatientIdentifier = "HKID A123456(3)".parse().unwrap();
//! assert_eq!(id.normalized(), "HKID:A1234563");
//! ```
#![forbid(unsafe_code)]

pub mod api;
pub mod consults;
pub mod error;
pub mod identifiers;
pub mod ids;
pub mod records;
pub mod registration;
pub mod statements;

pub use error::{ErrorCode, Problem};
pub use ids::*;
