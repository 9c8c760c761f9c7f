//! What the calling thread last read of a session with a plain `HGETALL`: its data and `ver`.
//!
//! A request reads its session (validate) and, when the app changed the data, writes it back
//! (finish) on the same thread. The write is read-modify-write in Rust against `ver` (see
//! `update_data`); reading it again first costs a round trip that the validate's read already
//! made. So the write starts from what this thread saw, and `write_data`'s version check
//! refuses it if anything changed meanwhile — then the store reads afresh, as before.
//!
//! Only the data and `ver` are kept, and `write_data.lua` writes only `data` and `ver`: the
//! rest of the hash the validate read (its `bind` and `auth` above all) is never written back,
//! so a write that starts from an old read cannot undo a binding swapped since (`bind` changes
//! do not move `ver`: they need not send the write back to read).

use std::cell::RefCell;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::data::Data;
use crate::id::SessionId;

/// One session's data as read, and the version it was read at.
pub(super) struct Seen {
    store: u64,
    id: SessionId,
    pub(super) version: String,
    pub(super) data: Option<Arc<Data>>,
}

thread_local! {
    static LAST: RefCell<Option<Seen>> = const { RefCell::new(None) };
}

/// A number for each store opened in this process, so one store never takes another's read.
pub(super) fn store_number() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// Remember a read of `id` by `store` on this thread (replacing the previous one).
pub(super) fn remember(store: u64, id: SessionId, version: String, data: Option<Arc<Data>>) {
    LAST.with(|last| {
        *last.borrow_mut() = Some(Seen {
            store,
            id,
            version,
            data,
        });
    });
}

/// The read of `id` by `store` this thread made last, if that was the last read; taken, so a
/// retry after a version mismatch reads afresh.
pub(super) fn take(store: u64, id: &SessionId) -> Option<Seen> {
    LAST.with(|last| {
        let mut last = last.borrow_mut();
        if last
            .as_ref()
            .is_some_and(|s| s.store == store && s.id == *id)
        {
            last.take()
        } else {
            None
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_read_serves_one_write_of_the_same_store_and_session() {
        let (a, b) = (store_number(), store_number());
        let id = SessionId::from_bytes([7; 32]);
        remember(a, id, "3".into(), None);
        assert!(take(b, &id).is_none(), "another store's read");
        assert!(
            take(a, &SessionId::from_bytes([8; 32])).is_none(),
            "another session"
        );
        assert_eq!(take(a, &id).map(|s| s.version).as_deref(), Some("3"));
        assert!(take(a, &id).is_none(), "taken once");
    }
}
