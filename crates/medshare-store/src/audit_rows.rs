//! Rows of the audit tables as both backends read them: one decoder per row type over the
//! few column accessors the SQLite and PostgreSQL rows share.

use crate::common::parse_id;
use crate::{BreakGlassRow, NoticeRow, PatientContactRow, Result, StoreError};
use medshare_audit::{Entry, LoggedEntry, SignedTreeHead, TreeHead};
use sqlx::Row;

/// Text and integer columns by name (ids are stored as text, times as 64-bit integers).
pub(crate) trait Columns {
    fn text(&self, col: &str) -> String;
    fn opt_text(&self, col: &str) -> Option<String>;
    fn int(&self, col: &str) -> i64;
}

macro_rules! columns {
    ($row:ty) => {
        impl Columns for $row {
            fn text(&self, col: &str) -> String {
                self.get(col)
            }
            fn opt_text(&self, col: &str) -> Option<String> {
                self.get(col)
            }
            fn int(&self, col: &str) -> i64 {
                self.get(col)
            }
        }
    };
}
columns!(sqlx::sqlite::SqliteRow);
columns!(sqlx::postgres::PgRow);

fn id<T: std::str::FromStr>(r: &impl Columns, col: &str) -> Result<T> {
    parse_id(&r.text(col))
}

fn opt_id<T: std::str::FromStr>(r: &impl Columns, col: &str) -> Result<Option<T>> {
    r.opt_text(col).as_deref().map(parse_id).transpose()
}

/// An optional id as stored.
pub(crate) fn id_str<T: ToString>(v: Option<T>) -> Option<String> {
    v.map(|x| x.to_string())
}

pub(crate) fn logged(r: &impl Columns) -> Result<LoggedEntry> {
    Ok(LoggedEntry {
        seq: r.int("seq"),
        entry: Entry {
            at: r.int("at"),
            actor: opt_id(r, "actor")?,
            institution: opt_id(r, "institution_id")?,
            action: r.text("action"),
            document: opt_id(r, "document_id")?,
            patient: opt_id(r, "patient_id")?,
            outcome: r.text("outcome"),
            purpose: r.text("basis"),
            detail: r.opt_text("detail"),
        },
        leaf: r.opt_text("leaf"),
    })
}

pub(crate) fn head(r: &impl Columns) -> Result<SignedTreeHead> {
    Ok(SignedTreeHead {
        head: TreeHead {
            size: u64::try_from(r.int("size")).map_err(|_| StoreError::Corrupt)?,
            root: r.text("root"),
            at: r.int("at"),
        },
        log_key: r.text("log_key"),
        signature: r.text("signature"),
    })
}

pub(crate) fn notice(r: &impl Columns) -> Result<NoticeRow> {
    Ok(NoticeRow {
        id: r.int("id"),
        patient_id: id(r, "patient_id")?,
        institution_id: opt_id(r, "institution_id")?,
        seq: r.int("seq"),
        at: r.int("at"),
        attempts: r.int("attempts"),
    })
}

pub(crate) fn contact(r: &impl Columns) -> Result<PatientContactRow> {
    Ok(PatientContactRow {
        patient_id: id(r, "patient_id")?,
        kind: r.text("kind"),
        address: r.text("address"),
        set_by: id(r, "set_by")?,
        set_at: r.int("set_at"),
    })
}

pub(crate) fn break_glass(r: &impl Columns) -> Result<BreakGlassRow> {
    Ok(BreakGlassRow {
        id: r.int("id"),
        patient_id: id(r, "patient_id")?,
        practitioner_id: id(r, "practitioner_id")?,
        reason: r.text("reason"),
        reason_epoch: u32::try_from(r.int("reason_epoch")).map_err(|_| StoreError::Corrupt)?,
        opened_at: r.int("opened_at"),
        expires_at: r.int("expires_at"),
    })
}
