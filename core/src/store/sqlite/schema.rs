//! The tables (`schema.sql`, documented in `docs/sqlite-schema.md`), the version check, and
//! rows ↔ [`Record`]s.

use std::sync::Arc;

use rusqlite::{Connection, OptionalExtension, Row, TransactionBehavior, params};

use crate::clock::UnixMillis;
use crate::csrf::CsrfSecret;
use crate::data::Data;
use crate::error::{Error, Result};
use crate::id::SessionId;
use crate::record::Record;

use super::sql_error;

/// The schema version this Tessera reads and writes (`meta.schema_version`).
pub const SCHEMA_VERSION: i64 = 1;

const DDL: &str = include_str!("schema.sql");

/// The record columns, in the order [`decode`] reads them. `$p` qualifies them (`"s."`).
macro_rules! columns {
    ($p:literal) => {
        concat!(
            $p,
            "id, ",
            $p,
            "user, ",
            $p,
            "user_agent, ",
            $p,
            "created_at, ",
            $p,
            "last_seen, ",
            $p,
            "deadline, ",
            $p,
            "rotated_at, ",
            $p,
            "secure, ",
            $p,
            "csrf, ",
            $p,
            "data, ",
            $p,
            "predecessor, ",
            $p,
            "max_idle_ms"
        )
    };
}
pub(super) use columns;

/// Make sure the database holds this version of Tessera's schema: create it in an empty file,
/// accept it as is, refuse anything else.
///
/// # Errors
/// `invalid_config` for a newer (or unknown) schema version or a database that is not
/// Tessera's; `store_unavailable` if the file cannot be read or written.
pub(super) fn ensure(conn: &mut Connection) -> Result<()> {
    if check(conn)? {
        return counted(conn);
    }
    // Empty: create the tables, in a write transaction so two processes starting at once do not
    // both try; the loser sees the winner's tables when it re-checks.
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(sql_error)?;
    if !check(&tx)? {
        tx.execute_batch(DDL).map_err(sql_error)?;
        tx.execute(
            "INSERT INTO meta (key, value) VALUES ('schema_version', ?1)",
            [SCHEMA_VERSION.to_string()],
        )
        .map_err(sql_error)?;
    }
    tx.commit().map_err(sql_error)
}

/// `true` if the schema is there in this version, `false` if the database is empty.
/// Add the live count and the anonymous index (the cap's) to a version 1 file made before
/// them; the statements are idempotent, and run only while the count is missing.
fn counted(conn: &mut Connection) -> Result<()> {
    let has = |conn: &Connection| -> Result<bool> {
        conn.query_row(
            "SELECT EXISTS (SELECT 1 FROM sqlite_schema WHERE type = 'trigger' \
             AND name = 'live_delete')",
            [],
            |r| r.get(0),
        )
        .map_err(sql_error)
    };
    if has(conn)? {
        return Ok(());
    }
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(sql_error)?;
    if !has(&tx)? {
        let start = DDL
            .find("CREATE TABLE IF NOT EXISTS live")
            .expect("the schema holds the live count");
        tx.execute_batch(&DDL[start..]).map_err(sql_error)?;
    }
    tx.commit().map_err(sql_error)
}

fn check(conn: &Connection) -> Result<bool> {
    let tables: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_schema WHERE type = 'table'")
        .and_then(|mut s| s.query_map([], |r| r.get(0))?.collect())
        .map_err(sql_error)?;
    if tables.is_empty() {
        return Ok(false);
    }
    if !tables.iter().any(|t| t == "meta") {
        return Err(Error::invalid_config(
            "store: the SQLite file holds tables that are not Tessera's (no `meta` table); give \
             the sessions a database file of their own",
        ));
    }
    let version: Option<String> = conn
        .query_row(
            "SELECT value FROM meta WHERE key = 'schema_version'",
            [],
            |r| r.get(0),
        )
        .optional()
        .map_err(sql_error)?;
    match version.as_deref().map(str::parse::<i64>) {
        Some(Ok(SCHEMA_VERSION)) => Ok(true),
        Some(Ok(v)) if v > SCHEMA_VERSION => Err(Error::invalid_config(format!(
            "store: the SQLite session database has schema version {v}, written by a newer \
             Tessera; this one reads version {SCHEMA_VERSION}. Upgrade Tessera in every process \
             that shares the file"
        ))),
        _ => Err(Error::invalid_config(format!(
            "store: the SQLite session database has no schema version Tessera knows \
             (meta.schema_version = {version:?}; this Tessera reads {SCHEMA_VERSION})"
        ))),
    }
}

/// A stored integer time or duration; `u64` values beyond `i64::MAX` (far past any real time)
/// are stored as `i64::MAX`.
pub(super) fn int(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn uint(v: i64, what: &str) -> Result<u64> {
    u64::try_from(v).map_err(|_| malformed(what))
}

fn malformed(what: &str) -> Error {
    Error::internal(format!("sqlite: a stored session is malformed ({what})"))
}

/// A row as stored, before its text is checked.
pub(super) struct Raw {
    id: String,
    user: Option<String>,
    user_agent: Option<String>,
    created_at: i64,
    last_seen: i64,
    deadline: i64,
    rotated_at: i64,
    secure: i64,
    csrf: String,
    data: Option<String>,
    predecessor: Option<String>,
    max_idle_ms: Option<i64>,
}

/// Read the columns of [`columns!`] starting at column `at`.
pub(super) fn raw(row: &Row<'_>, at: usize) -> rusqlite::Result<Raw> {
    Ok(Raw {
        id: row.get(at)?,
        user: row.get(at + 1)?,
        user_agent: row.get(at + 2)?,
        created_at: row.get(at + 3)?,
        last_seen: row.get(at + 4)?,
        deadline: row.get(at + 5)?,
        rotated_at: row.get(at + 6)?,
        secure: row.get(at + 7)?,
        csrf: row.get(at + 8)?,
        data: row.get(at + 9)?,
        predecessor: row.get(at + 10)?,
        max_idle_ms: row.get(at + 11)?,
    })
}

/// The record a row holds.
///
/// # Errors
/// `internal` if a column does not hold what the schema says (a hand-edited row).
pub(super) fn decode(raw: Raw) -> Result<Record> {
    let id = SessionId::parse_hex(&raw.id).map_err(|_| malformed("id"))?;
    let mut csrf = [0u8; 32];
    let secret = SessionId::parse_hex(&raw.csrf).map_err(|_| malformed("csrf"))?;
    csrf.copy_from_slice(secret.as_bytes());
    let data = match raw.data {
        Some(text) if !text.is_empty() => Some(Arc::new(
            serde_json::from_str::<Data>(&text).map_err(|_| malformed("data"))?,
        )),
        _ => None,
    };
    Ok(Record {
        id,
        user: raw.user.map(Arc::from),
        user_agent: raw.user_agent.map(Arc::from),
        created_at: uint(raw.created_at, "created_at")?,
        last_seen: uint(raw.last_seen, "last_seen")?,
        deadline: uint(raw.deadline, "deadline")?,
        rotated_at: uint(raw.rotated_at, "rotated_at")?,
        secure: raw.secure != 0,
        csrf: CsrfSecret::from_bytes(csrf),
        data,
        predecessor: raw
            .predecessor
            .map(|p| SessionId::parse_hex(&p).map_err(|_| malformed("predecessor")))
            .transpose()?,
        max_idle_ms: raw
            .max_idle_ms
            .map(|v| uint(v, "max_idle_ms"))
            .transpose()?,
        // TODO(issue 15): the auth and binding columns.
        auth: None,
        binding: None,
    })
}

/// Write `record` as a new row, filed for sweeping at `due`.
pub(super) fn insert(conn: &Connection, record: &Record, due: UnixMillis) -> Result<()> {
    let data = match &record.data {
        Some(d) if !d.is_empty() => Some(json(d)?),
        _ => None,
    };
    conn.prepare_cached(concat!(
        "INSERT INTO sessions (",
        columns!(""),
        ", due) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)"
    ))
    .and_then(|mut s| {
        s.execute(params![
            key(&record.id),
            record.user.as_deref(),
            record.user_agent.as_deref(),
            int(record.created_at),
            int(record.last_seen),
            int(record.deadline),
            int(record.rotated_at),
            i64::from(record.secure),
            hex(record.csrf.as_bytes()),
            data,
            record.predecessor.as_ref().map(key),
            record.max_idle_ms.map(int),
            int(due),
        ])
    })
    .map_err(sql_error)?;
    Ok(())
}

/// Session data as stored.
pub(super) fn json(data: &Data) -> Result<String> {
    serde_json::to_string(data)
        .map_err(|e| Error::internal(format!("sqlite: session data did not serialize: {e}")))
}

/// Lowercase hex, as ids and the CSRF secret are stored. By table rather than `fmt`: ids are
/// encoded on every lookup.
pub(super) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0xf)]));
    }
    out
}

/// A session id as its row key.
pub(super) fn key(id: &SessionId) -> String {
    hex(id.as_bytes())
}
