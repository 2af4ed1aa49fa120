//! One catalog statement as plain values: its SQL text and its parameters, which either
//! engine's own driver binds and runs (see `engine`).
//!
//! Most statements are the same text on both engines, because the schema keeps to what
//! both speak alike: ids as UUID text, times as UTC milliseconds in 64-bit integers,
//! flags as integers, hashes as bytes, and `$n` placeholders, which SQLite reads as named
//! parameters numbered in order of first use. Where the engines differ (advisory locks,
//! identity sequences, migrations), each engine has its own statement in its own module.
//!
//! A parameter is owned rather than borrowed because SQLite's writes run on the writer
//! thread, after the caller's borrow would have ended. Its type travels with it even when
//! it is NULL: PostgreSQL types every parameter, and a NULL typed as text cannot be
//! stored in an integer column.

use std::borrow::Cow;

use chrono::{DateTime, Utc};
use uuid::Uuid;

/// A parameter's value, with its column type.
#[derive(Clone, Debug, PartialEq)]
pub(super) enum Param {
    Text(Option<String>),
    Int(Option<i64>),
    Bytes(Option<Vec<u8>>),
}

/// SQL text and the values of its `$1…$n`, in order.
#[derive(Clone, Debug)]
pub(super) struct Statement {
    pub sql: Cow<'static, str>,
    pub params: Vec<Param>,
}

impl Statement {
    pub fn new(sql: impl Into<Cow<'static, str>>, params: Vec<Param>) -> Statement {
        Statement {
            sql: sql.into(),
            params,
        }
    }
}

/// `statement!(SQL, a, b, …)`: a [`Statement`] whose parameters are converted with
/// `Param::from`, so that call sites read like the SQL they bind.
macro_rules! statement {
    ($sql:expr $(, $param:expr)* $(,)?) => {
        $crate::storage::catalog::statement::Statement::new(
            $sql,
            vec![$($crate::storage::catalog::statement::Param::from($param)),*],
        )
    };
}
pub(super) use statement;

impl From<&str> for Param {
    fn from(value: &str) -> Param {
        Param::Text(Some(value.to_owned()))
    }
}

impl From<&String> for Param {
    fn from(value: &String) -> Param {
        Param::Text(Some(value.clone()))
    }
}

impl From<String> for Param {
    fn from(value: String) -> Param {
        Param::Text(Some(value))
    }
}

impl From<Option<&str>> for Param {
    fn from(value: Option<&str>) -> Param {
        Param::Text(value.map(str::to_owned))
    }
}

impl From<Uuid> for Param {
    fn from(value: Uuid) -> Param {
        Param::Text(Some(value.to_string()))
    }
}

impl From<i64> for Param {
    fn from(value: i64) -> Param {
        Param::Int(Some(value))
    }
}

impl From<Option<i64>> for Param {
    fn from(value: Option<i64>) -> Param {
        Param::Int(value)
    }
}

impl From<u32> for Param {
    fn from(value: u32) -> Param {
        Param::Int(Some(i64::from(value)))
    }
}

impl From<Option<u32>> for Param {
    fn from(value: Option<u32>) -> Param {
        Param::Int(value.map(i64::from))
    }
}

impl From<bool> for Param {
    fn from(value: bool) -> Param {
        Param::Int(Some(i64::from(value)))
    }
}

/// Times are stored as UTC milliseconds.
impl From<DateTime<Utc>> for Param {
    fn from(value: DateTime<Utc>) -> Param {
        Param::Int(Some(value.timestamp_millis()))
    }
}

impl From<Option<DateTime<Utc>>> for Param {
    fn from(value: Option<DateTime<Utc>>) -> Param {
        Param::Int(value.map(|t| t.timestamp_millis()))
    }
}

impl From<&[u8]> for Param {
    fn from(value: &[u8]) -> Param {
        Param::Bytes(Some(value.to_vec()))
    }
}

impl rusqlite::ToSql for Param {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        match self {
            Param::Text(value) => value.to_sql(),
            Param::Int(value) => value.to_sql(),
            Param::Bytes(value) => value.to_sql(),
        }
    }
}
