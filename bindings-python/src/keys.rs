//! The `str` objects of session data keys, shared across reads.
//!
//! A site's sessions hold the same few key names whichever session is read (Django's
//! `_auth_user_id`, `_auth_user_backend`, `_auth_user_hash`; an app's own). Making each key anew
//! on every read — an allocation, a UTF-8 check and copy — and hashing it again for the dict was
//! a third of `session.data` (callgrind, 5 keys: ~350 instructions per key). So a key's `str`,
//! hashed once, is kept in a small direct-mapped table and handed out again, as orjson does for
//! the keys it parses. A `str` is immutable and the text is compared in full before a hit, so a
//! shared key is indistinguishable from a fresh one but by `is`. Values are never shared: every
//! read makes its own, and the caller's dict, lists and nested dicts are always new.
//!
//! Bounded: `SLOTS` entries of keys of at most `MAX_LEN` bytes. A key that misses (new, too long,
//! or its slot taken by another key) is made as before and takes the slot: a site whose sessions
//! use thousands of key names pays a hash of the text and a comparison per key, no more.

use parking_lot::{Mutex, MutexGuard};
use pyo3::prelude::*;
use pyo3::types::PyString;

const SLOTS: usize = 512;
const MAX_LEN: usize = 64;

struct Slot {
    text: Box<str>,
    string: Py<PyString>,
}

type Table = [Option<Slot>; SLOTS];

static TABLE: Mutex<Table> = Mutex::new([const { None }; SLOTS]);

/// The table, held for one conversion (or not available: then every key is made anew).
pub struct Keys(Option<MutexGuard<'static, Table>>);

impl Keys {
    /// The table if no one holds it. Never waited for: the GIL already serialises conversions,
    /// and the holder may be this very thread — a conversion makes dicts and lists, which may
    /// start a garbage collection, whose finalisers may run Python code that reads session data.
    pub fn take() -> Self {
        Keys(TABLE.try_lock())
    }

    /// The `str` for the data key `text`: the shared one if it is in the table, else a new one
    /// (which then takes the table's slot).
    pub fn get<'py>(&mut self, py: Python<'py>, text: &str) -> Bound<'py, PyString> {
        let Some(table) = self.0.as_mut().filter(|_| text.len() <= MAX_LEN) else {
            return PyString::new(py, text);
        };
        let slot = &mut table[slot_of(text)];
        if let Some(hit) = slot
            && *hit.text == *text
        {
            return hit.string.bind(py).clone();
        }
        let string = PyString::new(py, text);
        // Hashed now, once: a str keeps its hash, so no dict this key goes into hashes it again.
        if string.hash().is_ok() {
            // Freeing the key it replaces runs no Python code: safe with the table held.
            *slot = Some(Slot {
                text: text.into(),
                string: string.clone().unbind(),
            });
        }
        string
    }
}

/// The key's slot: a multiply-rotate hash of its bytes (FxHash's), enough to spread a site's key
/// names. Crafted keys that share a slot only make each other miss.
fn slot_of(text: &str) -> usize {
    const K: u64 = 0x517c_c1b7_2722_0a95;
    let bytes = text.as_bytes();
    let mix = |h: u64, word: u64| (h.rotate_left(5) ^ word).wrapping_mul(K);
    let mut h = mix(0, bytes.len() as u64);
    let words = bytes.chunks_exact(8);
    let rest = words.remainder();
    for chunk in words {
        h = mix(h, word(chunk));
    }
    if !rest.is_empty() {
        // The last eight bytes (overlapping the chunks before) when there are eight: one load,
        // not a byte loop.
        let last = if bytes.len() >= 8 {
            word(&bytes[bytes.len() - 8..])
        } else {
            rest.iter().fold(0, |w, &b| (w << 8) | u64::from(b))
        };
        h = mix(h, last);
    }
    (h >> (64 - SLOTS.trailing_zeros())) as usize
}

/// Eight bytes as a little-endian word.
fn word(eight: &[u8]) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(eight);
    u64::from_le_bytes(w)
}
