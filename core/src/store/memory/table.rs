//! A shard's sessions: entries kept inline in a slab, found through an open-addressed index of
//! 8-byte slots.
//!
//! Why not a `HashTable<Box<Entry>>`: a lookup there reads a control byte, then the slot (the
//! box's pointer), then the box: three cache misses on a table larger than the caches, and a
//! malloc header per session. Here a slot holds the low 32 bits of the id's prefix (ids are
//! uniform, so those bits are the hash) and the entry's slab index: a lookup reads the slot,
//! compares 32 bits of the id, then reads the entry — two misses. Entries live in chunks of
//! at most 1024, so the slab never copies more than one chunk when it grows.
//!
//! Linear probing at a load of at most 3/4, with backward-shift deletion (no tombstones): a
//! slot's home bucket is derivable from the slot itself, so removal and growth never read an
//! entry. The slab keeps its chunks when sessions end (a freed entry is reused by the next
//! insert), as the index keeps its capacity.

use crate::id::SessionId;

/// Entries per slab chunk.
const CHUNK: usize = 1024;
/// The smallest index (slots).
const MIN_SLOTS: usize = 16;

/// What the table needs of an entry: its id.
pub(super) trait Keyed {
    fn key(&self) -> &SessionId;
}

pub(super) struct Table<E> {
    /// 0: empty; else `(index + 1) << 32 | low 32 bits of the id's prefix`.
    slots: Vec<u64>,
    chunks: Vec<Vec<Option<E>>>,
    /// Slab indexes of freed entries, reused first.
    free: Vec<u32>,
    len: usize,
}

impl<E: Keyed> Default for Table<E> {
    fn default() -> Self {
        Table {
            slots: Vec::new(),
            chunks: Vec::new(),
            free: Vec::new(),
            len: 0,
        }
    }
}

#[inline]
fn hash32(prefix: u64) -> u32 {
    prefix as u32
}

#[inline]
fn slot_of(hash: u32, index: u32) -> u64 {
    (u64::from(index) + 1) << 32 | u64::from(hash)
}

#[inline]
fn slot_hash(slot: u64) -> u32 {
    slot as u32
}

#[inline]
fn slot_index(slot: u64) -> usize {
    ((slot >> 32) - 1) as usize
}

impl<E: Keyed> Table<E> {
    pub(super) fn len(&self) -> usize {
        self.len
    }

    fn mask(&self) -> usize {
        self.slots.len() - 1
    }

    fn entry(&self, index: usize) -> Option<&E> {
        self.chunks.get(index / CHUNK)?.get(index % CHUNK)?.as_ref()
    }

    fn entry_mut(&mut self, index: usize) -> Option<&mut E> {
        self.chunks
            .get_mut(index / CHUNK)?
            .get_mut(index % CHUNK)?
            .as_mut()
    }

    /// The slot position holding `id`, if any.
    fn position(&self, id: &SessionId) -> Option<usize> {
        if self.slots.is_empty() {
            return None;
        }
        let hash = hash32(id.prefix());
        let mask = self.mask();
        let mut at = hash as usize & mask;
        loop {
            let slot = self.slots[at];
            if slot == 0 {
                return None;
            }
            if slot_hash(slot) == hash
                && self.entry(slot_index(slot)).is_some_and(|e| e.key() == id)
            {
                return Some(at);
            }
            at = (at + 1) & mask;
        }
    }

    pub(super) fn find(&self, id: &SessionId) -> Option<&E> {
        let at = self.position(id)?;
        self.entry(slot_index(self.slots[at]))
    }

    pub(super) fn find_mut(&mut self, id: &SessionId) -> Option<&mut E> {
        let at = self.position(id)?;
        let index = slot_index(self.slots[at]);
        self.entry_mut(index)
    }

    /// Add `entry`, whose id the table must not hold already.
    pub(super) fn insert(&mut self, entry: E) {
        if (self.len + 1) * 4 > self.slots.len() * 3 {
            self.grow();
        }
        let hash = hash32(entry.key().prefix());
        let index = self.store(entry);
        let mask = self.mask();
        let mut at = hash as usize & mask;
        while self.slots[at] != 0 {
            at = (at + 1) & mask;
        }
        self.slots[at] = slot_of(hash, index);
        self.len += 1;
    }

    /// Remove and return the entry of `id`.
    pub(super) fn take(&mut self, id: &SessionId) -> Option<E> {
        let at = self.position(id)?;
        Some(self.remove_at(at))
    }

    /// Remove and return the first entry whose id has `prefix` and that `pick` accepts.
    pub(super) fn take_prefixed(&mut self, prefix: u64, pick: impl Fn(&E) -> bool) -> Option<E> {
        let at = self.positions(prefix).find(|&at| {
            self.entry(slot_index(self.slots[at]))
                .is_some_and(|e| e.key().prefix() == prefix && pick(e))
        })?;
        Some(self.remove_at(at))
    }

    /// The entries whose id has `prefix`.
    pub(super) fn prefixed(&self, prefix: u64) -> impl Iterator<Item = &E> {
        self.positions(prefix)
            .filter_map(|at| self.entry(slot_index(self.slots[at])))
            .filter(move |e| e.key().prefix() == prefix)
    }

    pub(super) fn iter(&self) -> impl Iterator<Item = &E> {
        self.chunks.iter().flatten().flatten()
    }

    /// The slot positions of `prefix`'s probe run whose 32 hash bits match.
    fn positions(&self, prefix: u64) -> impl Iterator<Item = usize> + '_ {
        let hash = hash32(prefix);
        let mask = self.slots.len().wrapping_sub(1);
        let start = hash as usize & mask;
        (0..self.slots.len())
            .map(move |step| (start + step) & mask)
            .take_while(|&at| self.slots[at] != 0)
            .filter(move |&at| slot_hash(self.slots[at]) == hash)
    }

    fn store(&mut self, entry: E) -> u32 {
        if let Some(index) = self.free.pop() {
            let i = index as usize;
            self.chunks[i / CHUNK][i % CHUNK] = Some(entry);
            return index;
        }
        if self.chunks.last().is_none_or(|c| c.len() == CHUNK) {
            // Not `with_capacity(CHUNK)`: a small app's shards would each hold a 170 KB chunk
            // for a few sessions. A chunk grows by doubling up to CHUNK (moving its entries is
            // fine: the caller holds the shard's write lock) and then stays put.
            self.chunks.push(Vec::new());
        }
        let last = self.chunks.len() - 1;
        let chunk = &mut self.chunks[last];
        chunk.push(Some(entry));
        // At most 2^32 - 2 entries per shard: far beyond any memory this runs in.
        (last * CHUNK + chunk.len() - 1) as u32
    }

    /// Empty slot `at` and shift the rest of its run back, so no probe run has a hole.
    fn remove_at(&mut self, at: usize) -> E {
        let index = slot_index(self.slots[at]);
        let entry = self.chunks[index / CHUNK][index % CHUNK]
            .take()
            .unwrap_or_else(|| unreachable!("a slot names a live entry"));
        self.free.push(index as u32);
        self.len -= 1;
        let mask = self.mask();
        let mut hole = at;
        let mut next = (at + 1) & mask;
        loop {
            let slot = self.slots[next];
            if slot == 0 {
                break;
            }
            let home = slot_hash(slot) as usize & mask;
            // Move `next` into the hole unless its home lies cyclically in (hole, next].
            let stays = if hole <= next {
                hole < home && home <= next
            } else {
                hole < home || home <= next
            };
            if !stays {
                self.slots[hole] = slot;
                hole = next;
            }
            next = (next + 1) & mask;
        }
        self.slots[hole] = 0;
        entry
    }

    fn grow(&mut self) {
        let size = (self.slots.len() * 2).max(MIN_SLOTS);
        let old = std::mem::replace(&mut self.slots, vec![0; size]);
        let mask = size - 1;
        for slot in old.into_iter().filter(|&s| s != 0) {
            let mut at = slot_hash(slot) as usize & mask;
            while self.slots[at] != 0 {
                at = (at + 1) & mask;
            }
            self.slots[at] = slot;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    struct Item(SessionId, u32);

    impl Keyed for Item {
        fn key(&self) -> &SessionId {
            &self.0
        }
    }

    /// An id whose prefix's low 32 bits are `low` (so tests can make collisions on purpose).
    fn id(low: u32, rest: u8) -> SessionId {
        let mut b = [rest; 32];
        b[..4].copy_from_slice(&low.to_le_bytes());
        SessionId::from_bytes(b)
    }

    #[test]
    fn behaves_as_a_map_through_collisions_growth_and_removals() {
        // A small xorshift: deterministic, no dependency.
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let mut table: Table<Item> = Table::default();
        let mut model: HashMap<SessionId, u32> = HashMap::new();
        for step in 0..20_000u32 {
            let r = next();
            // Few distinct low bits, so runs are long and wrap around the index.
            let key = id((r % 97) as u32 * 0x0101, (r >> 8) as u8 % 23);
            if r % 3 == 0 {
                assert_eq!(
                    table.take(&key).map(|i| i.1),
                    model.remove(&key),
                    "step {step}"
                );
            } else if model.contains_key(&key) {
                assert_eq!(table.find(&key).map(|i| i.1), model.get(&key).copied());
                if let Some(item) = table.find_mut(&key) {
                    item.1 = step;
                }
                model.insert(key, step);
            } else {
                table.insert(Item(key, step));
                model.insert(key, step);
            }
            assert_eq!(table.len(), model.len());
        }
        for (key, value) in &model {
            assert_eq!(table.find(key).map(|i| i.1), Some(*value));
        }
        assert_eq!(table.iter().count(), model.len());
        let prefix = id(0x0101 * 5, 3).prefix();
        let want = model.keys().filter(|k| k.prefix() == prefix).count();
        assert_eq!(table.prefixed(prefix).count(), want);
        let taken = table.take_prefixed(prefix, |_| true).map(|i| i.0);
        assert_eq!(taken.is_some(), want > 0);
        if let Some(k) = taken {
            model.remove(&k);
        }
        for key in model.keys() {
            assert!(table.find(key).is_some());
        }
    }

    #[test]
    fn freed_entries_are_reused_before_the_slab_grows() {
        let mut table: Table<Item> = Table::default();
        for n in 0..3000 {
            table.insert(Item(id(n, 1), n));
        }
        let chunks = table.chunks.len();
        for n in 0..1500 {
            assert!(table.take(&id(n, 1)).is_some());
        }
        for n in 3000..4500 {
            table.insert(Item(id(n, 1), n));
        }
        assert_eq!(table.chunks.len(), chunks);
        assert_eq!(table.len(), 3000);
    }
}
