//! Helpers both stores share: JSON columns, ids stored as text.

use crate::{Result, StoreError};
use medshare_model::api::ConsentHolder;
use medshare_model::statements::Signed;
use std::str::FromStr;

pub(crate) fn json<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).expect("plain data serialises")
}

pub(crate) fn parse_json<T: serde::de::DeserializeOwned>(s: &str) -> Result<T> {
    serde_json::from_str(s).map_err(|_| StoreError::Corrupt)
}

pub(crate) fn parse_id<T: FromStr>(s: &str) -> Result<T> {
    s.parse().map_err(|_| StoreError::Corrupt)
}

pub(crate) fn opt_signed(s: Option<String>) -> Result<Option<Signed>> {
    s.as_deref().map(parse_json).transpose()
}

pub(crate) fn holder_key(h: &ConsentHolder) -> String {
    match h {
        ConsentHolder::Institution { id } => id.to_string(),
        ConsentHolder::Alliance => "alliance".into(),
    }
}

pub(crate) fn epoch_of(statement: &Signed) -> Result<u32> {
    #[derive(serde::Deserialize)]
    struct E {
        epoch: u32,
    }
    Ok(parse_json::<E>(&statement.payload)?.epoch)
}
