//! The tables (`schema.sql`, documented in `docs/sqlite-schema.md`), the version check, and
//! rows ↔ [`Record`]s.

use std::sync::Arc;

use rusqlite::{Connection, OptionalExtension, Row, TransactionBehavior, params};

use crate::authn::Authn;
use crate::binding::BindingState;
use crate::clock::UnixMillis;
use crate::csrf::CsrfSecret;
use crate::data::Data;
use crate::error::{Error, Result};
use crate::id::SessionId;
use crate::record::Record;

use super::sql_error;

/// The schema version this Tessera reads and writes (`meta.schema_version`). Version 2 added
/// the `auth` and `binding` columns (issue 15); a version 1 file is upgraded in place on open.
pub const SCHEMA_VERSION: i64 = 2;

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
            "max_idle_ms, ",
            $p,
            "auth, ",
            $p,
            "binding"
        )
    };
}
pub(super) use columns;

/// Make sure the database holds this version of Tessera's schema: create it in an empty file,
/// upgrade a version 1 file in place, accept this version as is, refuse anything else.
///
/// # Errors
/// `invalid_config` for a newer (or unknown) schema version or a database that is not
/// Tessera's; `store_unavailable` if the file cannot be read or written.
pub(super) fn ensure(conn: &mut Connection) -> Result<()> {
    if check(conn)? != Some(SCHEMA_VERSION) {
        // Empty or older: create or upgrade in a write transaction, so two processes starting
        // at once do not both try; the loser sees the winner's work when it re-checks.
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(sql_error)?;
        match check(&tx)? {
            None => {
                tx.execute_batch(DDL).map_err(sql_error)?;
                tx.execute(
                    "INSERT INTO meta (key, value) VALUES ('schema_version', ?1)",
                    [SCHEMA_VERSION.to_string()],
                )
                .map_err(sql_error)?;
            }
            Some(1) => upgrade_from_1(&tx)?,
            Some(_) => {}
        }
        tx.commit().map_err(sql_error)?;
    }
    counted(conn)
}

/// Version 1 → 2: the `auth` and `binding` columns (NULL in every existing row: not recorded,
/// unbound — what a version 1 row means), added in the transaction that bumps the version, so
/// no process ever sees the one without the other.
///
/// Processes of an older Tessera still running on the file keep their open connections and
/// write rows without the new columns (NULL); a new connection of theirs refuses the file
/// (a newer schema). Every process is to be upgraded before `dbsc` is turned on
/// (`docs/sqlite-schema.md`).
fn upgrade_from_1(tx: &Connection) -> Result<()> {
    tx.execute_batch(
        "ALTER TABLE sessions ADD COLUMN auth TEXT; \
         ALTER TABLE sessions ADD COLUMN binding TEXT;",
    )
    .map_err(sql_error)?;
    tx.execute(
        "UPDATE meta SET value = ?1 WHERE key = 'schema_version'",
        [SCHEMA_VERSION.to_string()],
    )
    .map_err(sql_error)?;
    Ok(())
}

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

/// The schema version the database holds (this one or an older one Tessera upgrades), `None`
/// if it is empty.
fn check(conn: &Connection) -> Result<Option<i64>> {
    let tables: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_schema WHERE type = 'table'")
        .and_then(|mut s| s.query_map([], |r| r.get(0))?.collect())
        .map_err(sql_error)?;
    if tables.is_empty() {
        return Ok(None);
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
        Some(Ok(v @ 1..=SCHEMA_VERSION)) => Ok(Some(v)),
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
    auth: Option<String>,
    binding: Option<String>,
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
        auth: row.get(at + 12)?,
        binding: row.get(at + 13)?,
    })
}

/// The record a row holds.
///
/// # Errors
/// `internal` if a column does not hold what the schema says (a hand-edited row);
/// `store_unavailable` if its `auth` or `binding` cannot be read (a session whose binding is
/// unknown is not served: fail closed).
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
        auth: raw.auth.as_deref().map(Authn::from_stored).transpose()?,
        binding: raw
            .binding
            .as_deref()
            .map(BindingState::from_stored)
            .transpose()?
            .map(Arc::new),
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
        ", due) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)"
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
            record.auth.as_ref().map(Authn::to_stored),
            stored_binding(record.binding.as_deref()),
            int(due),
        ])
    })
    .map_err(sql_error)?;
    Ok(())
}

/// A binding state as its column holds it (NULL: none).
pub(super) fn stored_binding(state: Option<&BindingState>) -> Option<String> {
    state.map(BindingState::to_stored)
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
