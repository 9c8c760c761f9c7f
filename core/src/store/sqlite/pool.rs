//! A small pool of SQLite connections that never lets one cross a `fork()`.
//!
//! SQLite forbids using a connection in a process other than the one that opened it
//! (<https://sqlite.org/howtocorrupt.html>, §2.6): the child would share the parent's file locks
//! and WAL index state and could corrupt the database. Gunicorn and Node's `cluster` fork
//! workers, possibly after the store was used, so every pooled connection carries the pid that
//! opened it and a checkout from any other process never sees it.
//!
//! A foreign connection is *forgotten* rather than closed: SQLite's own advice is not even to call
//! `sqlite3_close()` on it in the child, because closing runs cleanup (unlocking, WAL shutdown)
//! on state that belongs to the parent. The child leaks a few kilobytes and file descriptors per
//! inherited connection, once. `core` has no `unsafe`, so the pid check is the testable function
//! [`Pool::get_as`]; `std::process::id()` supplies the pid in production.

use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicUsize, Ordering};

use parking_lot::Mutex;
use rusqlite::Connection;

use crate::error::Result;

/// A connection and the process that opened it.
struct Owned {
    conn: Connection,
    pid: u32,
}

/// Idle connections, and how to open more.
pub(super) struct Pool {
    idle: Mutex<Vec<Owned>>,
    max_idle: usize,
    open: Box<dyn Fn() -> Result<Connection> + Send + Sync>,
    opened: AtomicUsize,
    abandoned: AtomicUsize,
}

/// A checked-out connection; back to the pool on drop unless it failed or sits in a transaction.
pub(super) struct Lease<'p> {
    pool: &'p Pool,
    conn: Option<Owned>,
    discard: bool,
}

impl Pool {
    /// A pool keeping up to `max_idle` idle connections, each opened (and prepared) by `open`.
    pub(super) fn new(
        max_idle: usize,
        open: impl Fn() -> Result<Connection> + Send + Sync + 'static,
    ) -> Self {
        Pool {
            idle: Mutex::new(Vec::with_capacity(max_idle)),
            max_idle,
            open: Box::new(open),
            opened: AtomicUsize::new(0),
            abandoned: AtomicUsize::new(0),
        }
    }

    /// A connection opened by this process.
    pub(super) fn get(&self) -> Result<Lease<'_>> {
        self.get_as(std::process::id())
    }

    /// A connection opened by process `pid`: idle connections of any other process are
    /// forgotten, never used or closed, and a fresh one is opened if none is left.
    pub(super) fn get_as(&self, pid: u32) -> Result<Lease<'_>> {
        let reused = {
            let mut idle = self.idle.lock();
            if idle.iter().any(|c| c.pid != pid) {
                // Every connection a parent left is foreign to this child: drop them all from the
                // pool at once, so none lingers under the child's own.
                let (mine, foreign): (Vec<Owned>, Vec<Owned>) =
                    idle.drain(..).partition(|c| c.pid == pid);
                *idle = mine;
                self.abandoned.fetch_add(foreign.len(), Ordering::Relaxed);
                for c in foreign {
                    std::mem::forget(c.conn);
                }
            }
            idle.pop()
        };
        let conn = match reused {
            Some(c) => c,
            None => {
                let conn = (self.open)()?;
                self.opened.fetch_add(1, Ordering::Relaxed);
                Owned { conn, pid }
            }
        };
        Ok(Lease {
            pool: self,
            conn: Some(conn),
            discard: false,
        })
    }

    /// How many connections this pool has opened, and how many inherited ones it abandoned.
    #[cfg(test)]
    pub(super) fn counts(&self) -> (usize, usize) {
        (
            self.opened.load(Ordering::Relaxed),
            self.abandoned.load(Ordering::Relaxed),
        )
    }

    /// Number of idle connections.
    #[cfg(test)]
    pub(super) fn idle(&self) -> usize {
        self.idle.lock().len()
    }
}

impl Lease<'_> {
    /// Close this connection instead of pooling it (it failed; a fresh one is cheap).
    pub(super) fn discard(&mut self) {
        self.discard = true;
    }
}

impl Deref for Lease<'_> {
    type Target = Connection;

    fn deref(&self) -> &Connection {
        // `conn` is only taken in `drop`.
        match &self.conn {
            Some(c) => &c.conn,
            None => unreachable!("a lease holds its connection until dropped"),
        }
    }
}

impl DerefMut for Lease<'_> {
    fn deref_mut(&mut self) -> &mut Connection {
        match &mut self.conn {
            Some(c) => &mut c.conn,
            None => unreachable!("a lease holds its connection until dropped"),
        }
    }
}

impl Drop for Lease<'_> {
    fn drop(&mut self) {
        let Some(owned) = self.conn.take() else {
            return;
        };
        // A connection left inside a transaction (a failed rollback) would hold the write lock
        // for every later user: close it instead.
        if self.discard || !owned.conn.is_autocommit() {
            return;
        }
        let mut idle = self.pool.idle.lock();
        if idle.len() < self.pool.max_idle {
            idle.push(owned);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool() -> Pool {
        Pool::new(2, || {
            Connection::open_in_memory().map_err(|e| crate::Error::store_unavailable(e.to_string()))
        })
    }

    #[test]
    fn connections_are_reused_within_a_process() {
        let p = pool();
        drop(p.get_as(10).unwrap());
        drop(p.get_as(10).unwrap());
        assert_eq!(p.counts(), (1, 0));
        assert_eq!(p.idle(), 1);
    }

    #[test]
    fn a_child_process_never_uses_its_parents_connections() {
        let p = pool();
        {
            let a = p.get_as(10).unwrap();
            let b = p.get_as(10).unwrap();
            a.execute_batch("CREATE TEMP TABLE parent_mark (x)")
                .unwrap();
            drop((a, b));
        }
        assert_eq!(p.idle(), 2);
        // After a fork the pid differs: both inherited connections are abandoned, and the child
        // gets a connection of its own (which has not seen the parent's temporary table).
        let child = p.get_as(11).unwrap();
        assert_eq!(p.counts(), (3, 2));
        assert!(
            child.prepare("SELECT x FROM temp.parent_mark").is_err(),
            "the child must not be handed the parent's connection"
        );
        drop(child);
        assert_eq!(p.idle(), 1);
        drop(p.get_as(11).unwrap());
        assert_eq!(p.counts(), (3, 2), "the child reuses its own");
    }

    #[test]
    fn a_connection_left_in_a_transaction_is_not_pooled() {
        let p = pool();
        let lease = p.get_as(1).unwrap();
        lease.execute_batch("BEGIN").unwrap();
        drop(lease);
        assert_eq!(p.idle(), 0);
        let mut lease = p.get_as(1).unwrap();
        lease.discard();
        drop(lease);
        assert_eq!(p.idle(), 0);
    }
}
