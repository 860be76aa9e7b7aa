//! The institution gateway: HL7 v2 over MLLP, DICOM C-STORE, FHIR R4 and a watched folder feed
//! a durable local queue (SQLite, payloads sealed to the gateway's own key); an uploader
//! classifies each item on this machine (the client core's intake step), applies the routing
//! and sharing rules and files it on the hub exactly once, as the institution's certified
//! service identity.
#![forbid(unsafe_code)]

pub mod config;
pub mod dicom;
pub mod envelope;
pub mod fhir;
pub mod folder;
pub mod gateway;
pub mod hl7;
pub mod ingest;
pub mod keyfile;
pub mod metrics;
pub mod mllp;
pub mod queue;
pub mod rules;
pub mod study;
pub mod uploader;

pub use config::Config;
pub use gateway::{Running, StartError, start};
