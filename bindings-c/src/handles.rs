//! Which handles are live, so that every `*_free` is safe to call twice — even by two threads at
//! once: exactly one call releases the handle, the others do nothing but set
//! `tessera_last_error`.
//!
//! Managers, clocks, requests, responses and returned strings are recorded in a process-wide
//! [`Registry`] of the addresses handed out: `*_new` (or the call returning the handle or string)
//! inserts the address, `*_free` removes it, and only the call whose removal succeeded releases
//! the memory. Before the removal nothing behind the pointer is read, so a second free — or any
//! pointer Tessera did not return — is recognised without touching memory. Only the calls that
//! make or release one of these handles take the registry's lock, and the calls on a request or
//! response (one lookup each, so that a request used after its finish is refused rather than
//! read); the lifecycle calls (validate above all) never do.
//!
//! Session handles, which every validate makes, use no lock: each carries an atomic state word,
//! and their memory is never given back to the allocator but kept for later sessions, so the word
//! stays readable after a free and a second free finds it already cleared (see
//! `session::release`).
//!
//! This is a safety net, not a licence: a handle must not be used after it is freed, and the
//! address of a freed handle may be handed out again for a new one, which a late second free
//! would then release.

use std::collections::BTreeSet;
use std::sync::{Mutex, PoisonError};

use crate::status::Failure;

/// Shards of a registry: concurrent frees of different handles rarely wait for each other.
const SHARDS: usize = 16;

/// The keys of one shard, in a B-tree rather than a hash set. A hash table (hashbrown, behind
/// `HashSet`) keeps a pointer into the *middle* of its one allocation (its control bytes follow
/// the buckets), so once a program has freed every handle a leak checker still finds that block
/// reachable only through an interior pointer and reports it: `valgrind --leak-check=full` said
/// "possibly lost: 52 bytes" (4 buckets of 8 bytes + 20 control bytes) for a correct program,
/// and fails it with `--error-exitcode`. A B-tree points at the start of each node, so what it
/// keeps is "still reachable", which no leak checker counts as an error; and it keeps its root
/// node once it has one, so a request's insert and remove cost no allocation. A handful of live
/// handles per shard makes its search as cheap as a hash. (A struct rather than a type alias:
/// cbindgen, which reads this crate, cannot instantiate the alias.)
struct Set(BTreeSet<usize>);

/// The live handles of one kind, by address.
pub(crate) struct Registry {
    /// What the handles are called in error messages ("manager", "clock", "string").
    kind: &'static str,
    shards: [Mutex<Set>; SHARDS],
}

/// The live `tessera_manager` handles.
pub(crate) static MANAGERS: Registry = Registry::new("manager");
/// The live `tessera_clock` handles.
pub(crate) static CLOCKS: Registry = Registry::new("clock");
/// The live strings returned through `char **` (released by `tessera_string_free`).
pub(crate) static STRINGS: Registry = Registry::new("string");
/// The live `tessera_request` handles (from `tessera_request_begin` until its finish or free).
pub(crate) static REQUESTS: Registry = Registry::new("request");
/// The live `tessera_response` handles.
pub(crate) static RESPONSES: Registry = Registry::new("response");
/// The live `tessera_endpoint_response` handles (the DBSC endpoints' answers).
pub(crate) static ENDPOINT_RESPONSES: Registry = Registry::new("endpoint response");

impl Registry {
    const fn new(kind: &'static str) -> Self {
        Registry {
            kind,
            shards: [const { Mutex::new(Set(BTreeSet::new())) }; SHARDS],
        }
    }

    fn shard(&self, key: usize) -> &Mutex<Set> {
        // Allocations are at least 8-byte aligned (and the key is the flipped address, see
        // [`key`]); the bits above say which shard.
        &self.shards[(key >> 4) % SHARDS]
    }

    /// Record a handle just made. Done before its address reaches the caller.
    pub(crate) fn insert<T>(&self, handle: *const T) {
        let address = key(handle);
        // A poisoned shard only means a panic elsewhere while it was held (an allocation
        // failure); the set itself is always consistent between calls.
        let mut set = self
            .shard(address)
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        set.0.insert(address);
    }

    /// Forget a handle being freed: `Ok` for exactly one caller per handle made; every other
    /// call — a second free, from this thread or another, or a pointer Tessera did not return —
    /// gets the failure to report, and must not touch the memory.
    pub(crate) fn remove<T>(&self, handle: *const T) -> Result<(), Failure> {
        let address = key(handle);
        let removed = self
            .shard(address)
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .0
            .remove(&address);
        if removed {
            Ok(())
        } else {
            Err(not_live(self.kind))
        }
    }

    /// Check that `handle` is live before it is used: `INVALID_ARGUMENT` for one already freed
    /// (or finished) rather than a read of released memory. A courtesy, not a guarantee: the
    /// address of a freed handle may be handed out again for a new one.
    pub(crate) fn check_live<T>(&self, handle: *const T) -> Result<(), Failure> {
        let address = key(handle);
        let live = self
            .shard(address)
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .0
            .contains(&address);
        if live {
            Ok(())
        } else {
            Err(not_live(self.kind))
        }
    }

    /// How many handles of this kind are live (for tests).
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.lock().unwrap_or_else(PoisonError::into_inner).0.len())
            .sum()
    }
}

/// What the registry stores for a handle: its address with every bit flipped. A leak checker
/// (valgrind, LeakSanitizer) scans memory for words that point into heap blocks; were the plain
/// addresses stored, a handle the program leaked would still look reachable from the registry and
/// the leak would go unreported. A flipped user-space address points nowhere.
fn key<T>(handle: *const T) -> usize {
    !(handle as usize)
}

/// The failure a free of a handle that is not live reports.
#[cold]
pub(crate) fn not_live(kind: &'static str) -> Failure {
    Failure::invalid_argument(format!(
        "{kind} is not a live handle: already freed (or never returned by Tessera); nothing was \
         freed"
    ))
}

#[cfg(test)]
mod tests {
    use std::sync::Barrier;

    use super::*;

    #[test]
    fn exactly_one_of_racing_removals_wins() {
        static REGISTRY: Registry = Registry::new("thing");
        let boxes: Vec<Box<u64>> = (0..64).map(Box::new).collect();
        for _ in 0..50 {
            for b in &boxes {
                REGISTRY.insert(&**b);
            }
            let barrier = Barrier::new(4);
            let wins: usize = std::thread::scope(|scope| {
                let handles: Vec<_> = (0..4)
                    .map(|_| {
                        scope.spawn(|| {
                            barrier.wait();
                            boxes
                                .iter()
                                .filter(|b| REGISTRY.remove(&***b).is_ok())
                                .count()
                        })
                    })
                    .collect();
                handles.into_iter().map(|h| h.join().unwrap()).sum()
            });
            assert_eq!(wins, boxes.len());
            assert_eq!(REGISTRY.len(), 0);
        }
        let stray = 0u64;
        let failure = REGISTRY.remove(&stray).unwrap_err();
        assert_eq!(
            failure.report(),
            crate::status::tessera_status::InvalidArgument
        );
    }
}
