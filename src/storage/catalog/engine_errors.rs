//! What a catalog engine's failure means in domain terms. The errors of both drivers
//! (sqlx's for PostgreSQL, rusqlite's for SQLite) are sorted here, beside the code that
//! drives them, so that nothing above storage names a driver: a full disk is
//! `StorageFull` (507), an engine that cannot serve now is `Unavailable` (503, retry), a
//! row whose parent is gone is `NotFound` (404), anything else is the statement's own
//! failure.

use crate::error::Error;

impl From<sqlx::Error> for Error {
    fn from(error: sqlx::Error) -> Self {
        let full = match &error {
            sqlx::Error::Io(io) => crate::storage::capacity::is_full(io),
            sqlx::Error::Database(database) => database.code().is_some_and(|code| code == "53100"),
            _ => false,
        };
        if full {
            return Error::storage_full("catalog", error.to_string());
        }
        if let sqlx::Error::Database(database) = &error
            && database.code().is_some_and(|code| code == "23503")
        {
            return gone_parent();
        }
        let unavailable = match &error {
            sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::Protocol(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::WorkerCrashed => true,
            sqlx::Error::Database(database) => database
                .code()
                .is_some_and(|code| engine_unavailable_code(&code)),
            _ => false,
        };
        catalog_error(unavailable, error.to_string())
    }
}

/// Errors of SQLite's connections, sorted as PostgreSQL's are: a full disk is
/// `StorageFull`; busy, locked and I/O mean the engine cannot serve now; anything else is
/// the statement's own failure.
impl From<rusqlite::Error> for Error {
    fn from(error: rusqlite::Error) -> Self {
        if error.sqlite_error_code() == Some(rusqlite::ErrorCode::DiskFull) {
            return Error::storage_full("catalog", error.to_string());
        }
        if let rusqlite::Error::SqliteFailure(failure, _) = &error
            && failure.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_FOREIGNKEY
        {
            return gone_parent();
        }
        let unavailable = matches!(
            error.sqlite_error_code(),
            Some(
                rusqlite::ErrorCode::DatabaseBusy
                    | rusqlite::ErrorCode::DatabaseLocked
                    | rusqlite::ErrorCode::SystemIoFailure
                    | rusqlite::ErrorCode::DiskFull
            )
        );
        catalog_error(unavailable, error.to_string())
    }
}

/// A row whose parent is gone (a foreign key that finds nothing): every chain of them ends
/// at an environment, removed meanwhile or never there (an operator's request may name
/// any id), so the answer is the 404 a missing environment gets.
fn gone_parent() -> Error {
    Error::NotFound("environment")
}

/// A catalog failure: the engine unable to serve now (503), or a failed statement.
fn catalog_error(unavailable: bool, message: String) -> Error {
    if unavailable {
        Error::Unavailable {
            engine: "catalog",
            message,
        }
    } else {
        Error::Catalog(message)
    }
}

/// PostgreSQL error codes that mean "the engine cannot serve right now", as opposed to a
/// statement that is wrong: the connection-exception class (08xxx), the shutdown and
/// start-up states (57P01-57P03) and too many connections (53300).
fn engine_unavailable_code(code: &str) -> bool {
    code.starts_with("08") || matches!(code, "57P01" | "57P02" | "57P03" | "53300")
}
