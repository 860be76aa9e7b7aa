//! The medshare client core: enrolment, login, patients, and the upload / timeline / download /
//! share pipelines over the hub's HTTP API. All encryption and decryption happens here, on the
//! practitioner's machine; every key is checked against the pinned alliance root before use.
//!
//! ```no_run
//! # async fn demo() -> medshare_client::Result<()> {
//! use medshare_client::{Hub, LoginOptions, login};
//! let hub = Hub::new("https://hub.example:8443", None)?;
//! let me = login(&hub, None, &"dr.chan".parse().unwrap(), "passphrase", Some("123456"), &LoginOptions::default()).await?;
//! let timeline = me.timeline(&"A123456(3)".parse().unwrap()).await?;
//! for e in &timeline.entries {
//!     println!("{} {}", e.manifest.date_of_service.as_deref().unwrap_or("-"), e.manifest.title);
//! }
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]

pub mod admin;
pub mod audit;
pub mod cache;
pub mod consults;
pub mod enrol;
pub mod error;
mod events;
pub mod hub;
pub mod intake;
pub mod local;
pub mod memory;
pub mod patients;
#[cfg(not(target_arch = "wasm32"))]
mod pipe;
mod platform;
pub mod records;
pub mod rooms;
pub mod service;
pub mod session;
pub mod timeline;
pub mod transfer;
pub mod trends;
pub mod trust;
pub mod voice;

#[cfg(not(target_arch = "wasm32"))]
pub use cache::FolderCache;
pub use cache::{CacheStore, CachedView};
pub use error::{ClientError, Result};
pub use hub::Hub;
pub use intake::{Intake, IntakeError};
pub use memory::{Memory, MemoryStore, Remembered};
pub use patients::{ConsentTarget, Patient};
pub use records::{DocumentMeta, OpenedDocument, Share, Timeline, TimelineEntry};
pub use rooms::{RoomKeys, RoomMessage};
pub use session::{Client, LoginOptions, SavedSession, login};
pub use timeline::TimelineChanges;
pub use transfer::UploadSession;
