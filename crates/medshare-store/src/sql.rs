//! Statements written once for every backend. SQL uses numbered `$n` placeholders (sqlx binds
//! them on SQLite too); values are bound in the form the store keeps them (ids, handles and
//! JSON as text, times, counts and epochs as 64-bit integers); rows are decoded column by
//! column with `try_get`, so a missing column or a stored value of another type is
//! [`StoreError::Corrupt`], never a panic.
//!
//! ```text
//! let row: Option<InstitutionRow> = sql("SELECT * FROM institutions WHERE id = $1")
//!     .bind(id)
//!     .fetch_optional(&self.pool)
//!     .await?;
//! ```

use crate::dialect::Dialect;
use crate::{Result, StoreError};
use medshare_model::statements::Signed;
use medshare_model::{
    ConsultId, DocumentId, Handle, InstitutionId, PatientId, PatientRef, PractitionerId,
    RoomBlobId, RoomId, UploadId,
};
use sqlx::error::BoxDynError;
use sqlx::postgres::{PgRow, Postgres};
use sqlx::sqlite::{Sqlite, SqliteRow};
use sqlx::{ColumnIndex, Decode, Executor, Pool, SqlSafeStr, SqlStr, Transaction, Type};
use std::fmt::Display;
use std::future::Future;
use std::str::FromStr;

/// A value as a statement binds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    Text(Option<String>),
    Int(Option<i64>),
    /// A list of ids, matched with [`Dialect::any_of`].
    TextList(Vec<String>),
}

macro_rules! value_from {
    ($($t:ty => |$v:ident| $e:expr;)*) => {$(
        impl From<$t> for Value {
            fn from($v: $t) -> Self {
                $e
            }
        }
    )*};
}
value_from! {
    &str => |v| Value::Text(Some(v.to_owned()));
    String => |v| Value::Text(Some(v));
    &String => |v| Value::Text(Some(v.clone()));
    Option<&str> => |v| Value::Text(v.map(str::to_owned));
    Option<String> => |v| Value::Text(v);
    &Option<String> => |v| Value::Text(v.clone());
    i64 => |v| Value::Int(Some(v));
    Option<i64> => |v| Value::Int(v);
    u32 => |v| Value::Int(Some(v.into()));
    bool => |v| Value::Int(Some(v.into()));
    &Handle => |v| v.as_str().into();
    &PatientRef => |v| v.as_str().into();
    // Signed statements are stored as their JSON.
    &Signed => |v| json(v).into();
}

/// Ids are stored as text; a list of ids is one argument.
macro_rules! ids {
    ($($id:ty),*) => {$(
        value_from! {
            $id => |v| Value::Text(Some(v.to_string()));
            Option<$id> => |v| Value::Text(v.map(|v| v.to_string()));
            &[$id] => |v| Value::TextList(v.iter().map(ToString::to_string).collect());
        }
        impl FromRow for $id {
            fn from_row(r: &impl Columns) -> Result<Self> {
                r.id(0)
            }
        }
    )*};
}
ids!(
    ConsultId,
    DocumentId,
    InstitutionId,
    PatientId,
    PractitionerId,
    RoomBlobId,
    RoomId,
    UploadId
);

/// A statement and its arguments, run with one of the `fetch_*` methods or
/// [`execute`](Stmt::execute).
#[must_use = "a statement does nothing until it is run"]
pub struct Stmt<D: Dialect> {
    sql: SqlStr,
    args: D::Arguments,
    /// The first value that could not be bound; the statement fails with it when run.
    bad: Option<BoxDynError>,
}

/// A statement (constant SQL; the few statements assembled at run time use
/// [`sqlx::AssertSqlSafe`] over SQL built from constants only, never from values).
pub fn sql<D: Dialect>(sql: impl SqlSafeStr) -> Stmt<D> {
    Stmt {
        sql: sql.into_sql_str(),
        args: Default::default(),
        bad: None,
    }
}

// `impl Future + Send` on purpose, not `async fn`: see below.
#[allow(clippy::manual_async_fn)]
impl<D: Dialect> Stmt<D> {
    /// Bind the next `$n` (one value), or the next few (a tuple).
    pub fn bind(self, v: impl Args) -> Self {
        v.bind_to(self)
    }

    fn push(mut self, v: Value) -> Self {
        if self.bad.is_none()
            && let Err(e) = D::bind(&mut self.args, v)
        {
            self.bad = Some(e);
        }
        self
    }

    fn query(self) -> Result<sqlx::query::Query<'static, D, D::Arguments>> {
        match self.bad {
            Some(e) => Err(StoreError::Database(sqlx::Error::Encode(e))),
            None => Ok(sqlx::query_with(self.sql, self.args)),
        }
    }

    // The methods below return `impl Future + Send` rather than being `async fn`s: the
    // promise of `Send` is then checked here, once, instead of in every caller's
    // `#[async_trait]` future, where the compiler cannot yet see through the generic executor.

    /// Run it; returns the number of rows changed.
    pub fn execute<'c>(self, on: impl On<'c, D>) -> impl Future<Output = Result<u64>> + Send + 'c {
        async move {
            let done = self.query()?.execute(on.executor()).await?;
            Ok(D::rows_affected(&done))
        }
    }

    pub fn fetch_all<'c, T: FromRow + Send + 'c>(
        self,
        on: impl On<'c, D>,
    ) -> impl Future<Output = Result<Vec<T>>> + Send + 'c {
        async move {
            let rows = self.query()?.fetch_all(on.executor()).await?;
            rows.iter().map(T::from_row).collect()
        }
    }

    pub fn fetch_optional<'c, T: FromRow + Send + 'c>(
        self,
        on: impl On<'c, D>,
    ) -> impl Future<Output = Result<Option<T>>> + Send + 'c {
        async move {
            let row = self.query()?.fetch_optional(on.executor()).await?;
            row.as_ref().map(T::from_row).transpose()
        }
    }

    /// The one row; `NotFound` without one.
    pub fn fetch_one<'c, T: FromRow + Send + 'c>(
        self,
        on: impl On<'c, D>,
    ) -> impl Future<Output = Result<T>> + Send + 'c {
        async move { T::from_row(&self.query()?.fetch_one(on.executor()).await?) }
    }
}

/// Statement arguments: one value, or a tuple of values for consecutive `$n`s.
pub trait Args {
    fn bind_to<D: Dialect>(self, s: Stmt<D>) -> Stmt<D>;
}

impl<T: Into<Value>> Args for T {
    fn bind_to<D: Dialect>(self, s: Stmt<D>) -> Stmt<D> {
        s.push(self.into())
    }
}

macro_rules! tuple_args {
    ($($v:ident: $t:ident),+) => {
        impl<$($t: Into<Value>),+> Args for ($($t,)+) {
            fn bind_to<D: Dialect>(self, s: Stmt<D>) -> Stmt<D> {
                let ($($v,)+) = self;
                s$(.push($v.into()))+
            }
        }
    };
}
tuple_args!(a: A, b: B);
tuple_args!(a: A, b: B, c: C);
tuple_args!(a: A, b: B, c: C, d: D1);
tuple_args!(a: A, b: B, c: C, d: D1, e: E);
tuple_args!(a: A, b: B, c: C, d: D1, e: E, f: F);
tuple_args!(a: A, b: B, c: C, d: D1, e: E, f: F, g: G);
tuple_args!(a: A, b: B, c: C, d: D1, e: E, f: F, g: G, h: H);
tuple_args!(a: A, b: B, c: C, d: D1, e: E, f: F, g: G, h: H, i: I);
tuple_args!(a: A, b: B, c: C, d: D1, e: E, f: F, g: G, h: H, i: I, j: J);

/// Where a statement runs: the pool (a statement of its own) or an open transaction.
pub trait On<'c, D: Dialect>: Send + 'c {
    fn executor(self) -> impl Executor<'c, Database = D>;
}

impl<'c, D: Dialect> On<'c, D> for &'c Pool<D> {
    fn executor(self) -> impl Executor<'c, Database = D> {
        D::pool_executor(self)
    }
}

impl<'c, D: Dialect> On<'c, D> for &'c mut Transaction<'_, D> {
    fn executor(self) -> impl Executor<'c, Database = D> {
        D::conn_executor(&mut **self)
    }
}

/// A value both backends decode (`String`, `i64` and their `Option`s are all the store reads).
pub trait Stored:
    for<'r> Decode<'r, Sqlite> + Type<Sqlite> + for<'r> Decode<'r, Postgres> + Type<Postgres>
{
}
impl<T> Stored for T where
    T: for<'r> Decode<'r, Sqlite> + Type<Sqlite> + for<'r> Decode<'r, Postgres> + Type<Postgres>
{
}

/// A column by name or position.
pub trait Col: ColumnIndex<SqliteRow> + ColumnIndex<PgRow> + Display + Copy {}
impl Col for &str {}
impl Col for usize {}

/// Typed access to a row's columns.
pub trait Columns {
    /// The column as `T`; a missing column or a value of another type is `Corrupt`.
    fn get<T: Stored>(&self, col: impl Col) -> Result<T>;

    /// An id stored as text.
    fn id<T: FromStr>(&self, col: impl Col) -> Result<T> {
        parse_id(&self.get::<String>(col)?)
    }

    fn opt_id<T: FromStr>(&self, col: impl Col) -> Result<Option<T>> {
        self.get::<Option<String>>(col)?
            .as_deref()
            .map(parse_id)
            .transpose()
    }

    /// A value stored as JSON text.
    fn json<T: serde::de::DeserializeOwned>(&self, col: impl Col) -> Result<T> {
        parse_json(&self.get::<String>(col)?)
    }

    fn opt_json<T: serde::de::DeserializeOwned>(&self, col: impl Col) -> Result<Option<T>> {
        self.get::<Option<String>>(col)?
            .as_deref()
            .map(parse_json)
            .transpose()
    }

    /// An epoch or other small count.
    fn u32(&self, col: impl Col) -> Result<u32> {
        u32::try_from(self.get::<i64>(col)?).map_err(|_| StoreError::Corrupt)
    }

    fn opt_u32(&self, col: impl Col) -> Result<Option<u32>> {
        self.get::<Option<i64>>(col)?
            .map(|v| u32::try_from(v).map_err(|_| StoreError::Corrupt))
            .transpose()
    }

    /// A size in bytes.
    fn u64(&self, col: impl Col) -> Result<u64> {
        u64::try_from(self.get::<i64>(col)?).map_err(|_| StoreError::Corrupt)
    }

    /// A 0/1 flag.
    fn flag(&self, col: impl Col) -> Result<bool> {
        match self.get::<i64>(col)? {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(StoreError::Corrupt),
        }
    }
}

macro_rules! columns {
    ($($row:ty),*) => {$(
        impl Columns for $row {
            fn get<T: Stored>(&self, col: impl Col) -> Result<T> {
                sqlx::Row::try_get(self, col).map_err(|_| {
                    // The column's name only: the decoder's message could quote the value.
                    tracing::error!(column = %col, "a stored value does not decode");
                    StoreError::Corrupt
                })
            }
        }
    )*};
}
columns!(SqliteRow, PgRow);

/// A type a row decodes into.
pub trait FromRow: Sized {
    fn from_row(r: &impl Columns) -> Result<Self>;
}

impl FromRow for i64 {
    fn from_row(r: &impl Columns) -> Result<Self> {
        r.get(0)
    }
}

impl FromRow for Option<i64> {
    fn from_row(r: &impl Columns) -> Result<Self> {
        r.get(0)
    }
}

impl FromRow for String {
    fn from_row(r: &impl Columns) -> Result<Self> {
        r.get(0)
    }
}

/// A signed statement stored as JSON in the first column.
impl FromRow for Signed {
    fn from_row(r: &impl Columns) -> Result<Self> {
        r.json(0)
    }
}

pub(crate) fn json<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).expect("plain data serialises")
}

pub(crate) fn parse_json<T: serde::de::DeserializeOwned>(s: &str) -> Result<T> {
    serde_json::from_str(s).map_err(|_| StoreError::Corrupt)
}

pub(crate) fn parse_id<T: FromStr>(s: &str) -> Result<T> {
    s.parse().map_err(|_| StoreError::Corrupt)
}

/// A size or count as the database stores it.
pub(crate) fn int(v: u64) -> Result<i64> {
    i64::try_from(v).map_err(|_| StoreError::Corrupt)
}
