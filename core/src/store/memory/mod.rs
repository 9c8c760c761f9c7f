//! The embedded store: sharded hash tables in process memory.
//!
//! Layout, chosen for the validate hot path and for memory per session:
//! - Records live inline in a slab, found through an open-addressed index of 8-byte slots keyed
//!   by the id's first bytes (ids are uniform, so those bytes are the hash): a hit costs a cache
//!   miss for the slot and one for the record (`table`).
//! - The shard is picked from bytes 8..16, so a shard's entries still spread over all of the
//!   table's buckets.
//! - `validate` takes the shard's read lock and moves `last_seen` with a compare-and-swap that
//!   refuses to touch an idle-expired record; writers take the write lock.
//! - Expiry bookkeeping is a per-shard wheel of one-second buckets holding id prefixes at the
//!   time each record *could* first expire. A sweep pops only the buckets that came due and
//!   re-files the records that were touched since, so its cost follows what came due, not the
//!   store's size. A touch only moves that time later; a per-session expiry that moves it
//!   earlier files the record again at the earlier time.
//! - Anonymous sessions are filed on a wheel of their own, the same way: its earliest bucket
//!   names the least recently seen anonymous sessions, which is where the `max_sessions` cap
//!   evicts (re-filing the ones touched since, as a sweep does). The live count is one atomic
//!   counter shared by the shards, moved only where a record enters or leaves a table.
//! - The per-user index is sharded behind mutexes. Any change that adds, moves or removes a
//!   session *of a user* takes that user's index lock before the table locks (tables in shard
//!   order), which makes `remove_user` atomic with respect to rotations and logins.

use std::collections::BTreeMap;
use std::hash::BuildHasher;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use hashbrown::{HashMap, HashSet, HashTable};

mod table;

use parking_lot::{Mutex, MutexGuard, RwLock, RwLockWriteGuard};
use table::{Keyed, Table};

use crate::authn::Authn;
use crate::binding::{BindingState, Gate, Swapped, same_state};
use crate::clock::UnixMillis;
use crate::csrf::CsrfSecret;
use crate::data::{self, Data, DataOp};
use crate::error::{Error, Reason, Result};
use crate::fields::Fields;
use crate::id::SessionId;
use crate::record::{
    BindingChange, ExpiryChange, Load, Record, Rekey, Removed, check_live, effective_idle,
};
use crate::store::Store;

/// Wheel bucket width.
const TICK_MS: u64 = 1000;

/// In-process session store: the default, for one process, tests and demos.
///
/// Thread-safe; share it behind an `Arc` or hand it to a [`SessionManager`](crate::SessionManager).
///
/// ```
/// use tessera::{Config, ManualClock, MemoryStore, SessionManager};
/// let manager = SessionManager::builder(Config::default())
///     .store(MemoryStore::with_shards(16))
///     .clock(ManualClock::default())
///     .build()
///     .unwrap();
/// let created = manager.create(None, None, &Default::default()).unwrap();
/// assert_eq!(manager.store_len().unwrap(), 1);
/// # drop(created);
/// ```
pub struct MemoryStore {
    shards: Box<[Padded<RwLock<Shard>>]>,
    /// Sessions in all the shards (the cap's count; moved by `Shard::put` and `take`).
    live: Arc<AtomicUsize>,
    users: Box<[Mutex<UserIndex>]>,
    user_hasher: hashbrown::DefaultHashBuilder,
}

/// user → the ids of its sessions. A set, so a user with very many sessions costs no more per
/// login or logout than one with a few.
type UserIndex = HashMap<Arc<str>, HashSet<SessionId>>;

/// Keeps each shard's lock on its own cache lines so two cores do not fight over one.
#[repr(align(128))]
struct Padded<T>(T);

struct Shard {
    sessions: Table<Entry>,
    aliases: HashTable<Alias>,
    /// ceil(due / TICK_MS) → prefixes of ids that may expire by then: signed-in sessions and
    /// aliases.
    wheel: BTreeMap<u64, Vec<u64>>,
    /// The same for anonymous sessions, kept apart so that the cap finds the least recently
    /// seen of them without passing over signed-in ones.
    anonymous: BTreeMap<u64, Vec<u64>>,
    /// The store's count of sessions, shared by every shard.
    live: Arc<AtomicUsize>,
}

struct Entry {
    id: SessionId,
    last_seen: AtomicU64,
    created_at: UnixMillis,
    deadline: UnixMillis,
    rotated_at: UnixMillis,
    user: Option<Arc<str>>,
    user_agent: Option<Arc<str>>,
    data: Option<Arc<Data>>,
    csrf: CsrfSecret,
    // No predecessor: an alias whose target is gone resolves to nothing anyway, and it ends
    // with its grace on the wheel. Only `rekey`'s answer names the predecessor, which saves
    // 33 bytes on every session.
    /// Its own idle timeout ([`Record::max_idle_ms`]), `u64::MAX` for none: the same rule
    /// (`min` with the configured one) without an `Option`'s 8 more bytes per session. Written
    /// under the shard's write lock.
    max_idle_ms: u64,
    secure: bool,
    /// How strongly the user authenticated ([`Record::auth`]): the level beside `secure`, where
    /// the entry has room for it (0: none), and the methods' pointer (null without `amr`). A
    /// signed-in validate reads both without another memory access.
    auth_level: u8,
    amr: Option<Arc<Vec<String>>>,
    /// Replaced whole under the shard's write lock (`swap_binding`, a login's rekey), never by a
    /// write of the data.
    binding: Option<Arc<BindingState>>,
}

struct Alias {
    id: SessionId,
    target: SessionId,
    until: UnixMillis,
}

impl Keyed for Entry {
    fn key(&self) -> &SessionId {
        &self.id
    }
}

impl Entry {
    fn from_record(r: Record) -> Entry {
        let (auth_level, amr) = r.auth.map_or((0, None), Authn::into_parts);
        Entry {
            id: r.id,
            last_seen: AtomicU64::new(r.last_seen),
            created_at: r.created_at,
            deadline: r.deadline,
            rotated_at: r.rotated_at,
            user: r.user,
            user_agent: r.user_agent,
            data: r.data,
            csrf: r.csrf,
            max_idle_ms: r.max_idle_ms.unwrap_or(u64::MAX),
            secure: r.secure,
            auth_level,
            amr,
            binding: r.binding,
        }
    }

    fn snapshot(&self) -> Record {
        self.snapshot_of(Fields::ALL)
    }

    /// A copy of the record with only the larger parts `fields` names: the others are not read,
    /// so their shared allocations are not touched (no reference count moves).
    #[inline]
    fn snapshot_of(&self, fields: Fields) -> Record {
        Record {
            id: self.id,
            user: self.user.clone(),
            user_agent: if fields.contains(Fields::USER_AGENT) {
                self.user_agent.clone()
            } else {
                None
            },
            created_at: self.created_at,
            last_seen: self.last_seen.load(Ordering::Relaxed),
            deadline: self.deadline,
            rotated_at: self.rotated_at,
            secure: self.secure,
            csrf: if fields.contains(Fields::CSRF) {
                self.csrf.clone()
            } else {
                CsrfSecret::UNREAD
            },
            data: if fields.contains(Fields::DATA) {
                self.data.clone()
            } else {
                None
            },
            predecessor: None,
            max_idle_ms: (self.max_idle_ms != u64::MAX).then_some(self.max_idle_ms),
            auth: Authn::from_parts(self.auth_level, self.amr.clone()),
            binding: self.binding.clone(),
        }
    }

    /// What a read through `gate` finds in this live-or-expired entry, touching it if admitted.
    #[inline]
    fn read(&self, now: UnixMillis, idle_ms: u64, gate: &Gate, via_alias: bool) -> Load {
        // Unbound entries, the common case, are judged by the touch alone.
        if self.binding.is_some() || !gate.touch {
            if let Err(reason) = self.check_live(now, idle_ms) {
                return Load::Expired(reason, self.snapshot_of(gate.fields));
            }
            if let Err(missing) = gate.admit(self.binding.as_deref(), now) {
                return Load::Unproven(missing, self.snapshot_of(gate.fields));
            }
            if !gate.touch {
                return Load::Live {
                    record: self.snapshot_of(gate.fields),
                    via_alias,
                };
            }
        }
        match self.touch(now, idle_ms) {
            Ok(()) => Load::Live {
                record: self.snapshot_of(gate.fields),
                via_alias,
            },
            Err(reason) => Load::Expired(reason, self.snapshot_of(gate.fields)),
        }
    }

    /// The idle timeout in force for this entry under the configured `idle_ms`. Every liveness
    /// check and due time of an entry goes through it.
    #[inline]
    fn idle(&self, idle_ms: u64) -> u64 {
        effective_idle(Some(self.max_idle_ms), idle_ms)
    }

    fn check_live(&self, now: UnixMillis, idle_ms: u64) -> Result<(), Reason> {
        check_live(
            self.deadline,
            self.last_seen.load(Ordering::Relaxed),
            now,
            self.idle(idle_ms),
        )
    }

    fn expires_at(&self, idle_ms: u64) -> UnixMillis {
        self.deadline.min(
            self.last_seen
                .load(Ordering::Relaxed)
                .saturating_add(self.idle(idle_ms)),
        )
    }

    /// Move `last_seen` to `now` unless the record has expired; lock-free under a read lock.
    #[inline]
    fn touch(&self, now: UnixMillis, idle_ms: u64) -> Result<(), Reason> {
        let idle_ms = self.idle(idle_ms);
        let mut seen = self.last_seen.load(Ordering::Relaxed);
        loop {
            check_live(self.deadline, seen, now, idle_ms)?;
            if now <= seen {
                return Ok(());
            }
            match self.last_seen.compare_exchange_weak(
                seen,
                now,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => return Ok(()),
                Err(actual) => seen = actual,
            }
        }
    }
}

fn tick(due: UnixMillis) -> u64 {
    due.div_ceil(TICK_MS)
}

impl Shard {
    fn find(&self, id: &SessionId) -> Option<&Entry> {
        self.sessions.find(id)
    }

    fn find_mut(&mut self, id: &SessionId) -> Option<&mut Entry> {
        self.sessions.find_mut(id)
    }

    fn new(live: Arc<AtomicUsize>) -> Self {
        Shard {
            sessions: Table::default(),
            aliases: HashTable::new(),
            wheel: BTreeMap::new(),
            anonymous: BTreeMap::new(),
            live,
        }
    }

    fn take(&mut self, id: &SessionId) -> Option<Entry> {
        let taken = self.sessions.take(id);
        if taken.is_some() {
            self.live.fetch_sub(1, Ordering::Relaxed);
        }
        taken
    }

    fn put(&mut self, entry: Entry, idle_ms: u64) {
        self.file_session(&entry, entry.expires_at(idle_ms));
        self.sessions.insert(entry);
        self.live.fetch_add(1, Ordering::Relaxed);
    }

    fn file_session(&mut self, entry: &Entry, due: UnixMillis) {
        if entry.user.is_none() {
            self.file_anonymous(entry.id.prefix(), due);
        } else {
            self.file(entry.id.prefix(), due);
        }
    }

    /// Take the first filing of the anonymous wheel (the least recently seen anonymous session,
    /// unless it was touched since): end its session if it is still due by then (or expired),
    /// else file it again at its due time. `None` when the wheel is empty.
    fn evict_first(&mut self, now: UnixMillis, idle_ms: u64) -> Option<Option<Removed>> {
        let mut bucket = self.anonymous.first_entry()?;
        let at = *bucket.key();
        let Some(prefix) = bucket.get_mut().pop() else {
            bucket.remove();
            return Some(None);
        };
        if bucket.get().is_empty() {
            bucket.remove();
        }
        let mut pick: Option<SessionId> = None;
        let mut later = Vec::new();
        for e in self.sessions.prefixed(prefix).filter(|e| e.user.is_none()) {
            let due = e.expires_at(idle_ms);
            if pick.is_none() && (tick(due) <= at || e.check_live(now, idle_ms).is_err()) {
                pick = Some(e.id);
            } else {
                later.push(due);
            }
        }
        for due in later {
            self.file_anonymous(prefix, due);
        }
        let entry = self.take(&pick?)?;
        Some(Some(Removed {
            id: entry.id,
            user: None,
            expired: entry.check_live(now, idle_ms).err(),
        }))
    }

    fn alias(&self, id: &SessionId) -> Option<&Alias> {
        self.aliases.find(id.prefix(), |a| a.id == *id)
    }

    fn put_alias(&mut self, alias: Alias) {
        self.file(alias.id.prefix(), alias.until);
        if let Ok(existing) = self
            .aliases
            .find_entry(alias.id.prefix(), |a| a.id == alias.id)
        {
            existing.remove();
        }
        self.aliases
            .insert_unique(alias.id.prefix(), alias, |a| a.id.prefix());
    }

    fn drop_alias(&mut self, id: &SessionId) {
        if let Ok(existing) = self.aliases.find_entry(id.prefix(), |a| a.id == *id) {
            existing.remove();
        }
    }

    fn file(&mut self, prefix: u64, due: UnixMillis) {
        self.wheel.entry(tick(due)).or_default().push(prefix);
    }

    fn file_anonymous(&mut self, prefix: u64, due: UnixMillis) {
        self.anonymous.entry(tick(due)).or_default().push(prefix);
    }
}

impl MemoryStore {
    /// A store with a shard count suited to this machine (4 × available parallelism, at least 16).
    pub fn new() -> Self {
        let cores = std::thread::available_parallelism().map_or(4, |n| n.get());
        Self::with_shards((cores * 4).max(16))
    }

    /// A store with `shards` table shards (rounded up to a power of two, at least 1).
    pub fn with_shards(shards: usize) -> Self {
        let n = shards.clamp(1, 1 << 16).next_power_of_two();
        let live = Arc::new(AtomicUsize::new(0));
        MemoryStore {
            shards: (0..n)
                .map(|_| Padded(RwLock::new(Shard::new(Arc::clone(&live)))))
                .collect(),
            live,
            users: (0..n).map(|_| Mutex::new(UserIndex::default())).collect(),
            user_hasher: hashbrown::DefaultHashBuilder::default(),
        }
    }

    /// How many expiry-wheel entries a sweep at `now` would examine: a diagnostic that shows
    /// sweep cost tracks what came due rather than the number of sessions.
    pub fn due_at(&self, now: UnixMillis) -> usize {
        let last = tick(now);
        self.shards
            .iter()
            .map(|s| {
                let shard = s.0.read();
                [&shard.wheel, &shard.anonymous]
                    .iter()
                    .flat_map(|w| w.range(..=last))
                    .map(|(_, v)| v.len())
                    .sum::<usize>()
            })
            .sum()
    }

    #[inline]
    fn shard_index(&self, id: &SessionId) -> usize {
        let b = id.as_bytes();
        let mut mid = [0u8; 8];
        mid.copy_from_slice(&b[8..16]);
        (u64::from_le_bytes(mid) as usize) & (self.shards.len() - 1)
    }

    #[inline]
    /// Run `apply` on the record `id` names, under its shard's write lock: `id`'s own record,
    /// or else the primary record its in-grace alias points to. `apply` returns `None` when the
    /// shard holds no record under the id it is given; so does this, when neither does.
    fn on_primary<T>(
        &self,
        id: &SessionId,
        now: UnixMillis,
        apply: impl Fn(&mut Shard, &SessionId) -> Option<T>,
    ) -> Option<T> {
        let target = {
            let mut shard = self.shard(id).write();
            if let Some(done) = apply(&mut shard, id) {
                return Some(done);
            }
            match shard.alias(id) {
                Some(a) if a.until > now => a.target,
                _ => return None,
            }
        };
        let mut shard = self.shard(&target).write();
        apply(&mut shard, &target)
    }

    fn shard(&self, id: &SessionId) -> &RwLock<Shard> {
        &self.shards[self.shard_index(id)].0
    }

    fn user_index(&self, user: &str) -> usize {
        (self.user_hasher.hash_one(user) as usize) & (self.users.len() - 1)
    }

    /// Lock the index shards of up to two users, in shard order.
    fn lock_users(&self, a: Option<&str>, b: Option<&str>) -> UserLocks<'_> {
        let mut idx: Vec<usize> = a.into_iter().chain(b).map(|u| self.user_index(u)).collect();
        idx.sort_unstable();
        idx.dedup();
        UserLocks(idx.into_iter().map(|i| (i, self.users[i].lock())).collect())
    }

    /// Write-lock the shards of two ids, in shard order; returns (first id's, second id's).
    fn lock_pair(
        &self,
        a: &SessionId,
        b: &SessionId,
    ) -> (
        RwLockWriteGuard<'_, Shard>,
        Option<RwLockWriteGuard<'_, Shard>>,
    ) {
        let (ia, ib) = (self.shard_index(a), self.shard_index(b));
        if ia == ib {
            (self.shards[ia].0.write(), None)
        } else if ia < ib {
            let ga = self.shards[ia].0.write();
            let gb = self.shards[ib].0.write();
            (ga, Some(gb))
        } else {
            let gb = self.shards[ib].0.write();
            let ga = self.shards[ia].0.write();
            (ga, Some(gb))
        }
    }

    /// The primary id `id` stands for now: itself, or an in-grace alias's target; with its user.
    fn resolve(&self, id: &SessionId, now: UnixMillis) -> Option<(SessionId, Option<Arc<str>>)> {
        let target = {
            let shard = self.shard(id).read();
            if let Some(e) = shard.find(id) {
                return Some((e.id, e.user.clone()));
            }
            match shard.alias(id) {
                Some(a) if a.until > now => a.target,
                _ => return None,
            }
        };
        let shard = self.shard(&target).read();
        shard.find(&target).map(|e| (e.id, e.user.clone()))
    }

    /// End anonymous sessions, the least recently seen first, until fewer than `max` live. Each
    /// step takes the earliest filing of all the shards' anonymous wheels (see
    /// `Shard::evict_first`), so the order is the store's, not a shard's; a filing of a session
    /// touched since moves to its due time and the next step looks again. Shards are locked one
    /// at a time.
    fn make_room(&self, max: usize, now: UnixMillis, idle_ms: u64) -> Vec<Removed> {
        let mut made = Vec::new();
        while self.live.load(Ordering::Relaxed) >= max {
            let earliest = self
                .shards
                .iter()
                .enumerate()
                .filter_map(|(i, s)| s.0.read().anonymous.first_key_value().map(|(t, _)| (*t, i)))
                .min();
            let Some((_, i)) = earliest else { break };
            // Otherwise it moved on or dropped a filing (or the wheel emptied meanwhile): look
            // again.
            let evicted = self.shards[i].0.write().evict_first(now, idle_ms);
            if let Some(Some(removed)) = evicted {
                made.push(removed);
            }
        }
        made
    }

    /// Remove the primary record `target` if it still belongs to `user` (and, with `expired_only`,
    /// if it is expired). The caller holds `user`'s index lock.
    fn remove_locked(
        &self,
        index: Option<&mut UserIndex>,
        target: &SessionId,
        user: Option<&Arc<str>>,
        (now, idle_ms): (UnixMillis, u64),
        expired_only: bool,
    ) -> Option<Removed> {
        let mut shard = self.shard(target).write();
        let entry = shard.find(target)?;
        if entry.user.as_ref() != user {
            return None;
        }
        let expired = entry.check_live(now, idle_ms).err();
        if expired_only && expired.is_none() {
            return None;
        }
        let entry = shard.take(target)?;
        drop(shard);
        if let (Some(index), Some(user)) = (index, user) {
            unindex(index, user, target);
        }
        Some(Removed {
            id: entry.id,
            user: entry.user.clone(),
            expired,
        })
    }

    /// Remove `id` (primary or alias) with the user-lock protocol; retries if the record's user
    /// changed between the unlocked read and the locked removal.
    fn remove_with(
        &self,
        id: &SessionId,
        now: UnixMillis,
        idle_ms: u64,
        expired_only: bool,
    ) -> Option<Removed> {
        for _ in 0..8 {
            let (target, user) = self.resolve(id, now)?;
            let mut guards = self.lock_users(user.as_deref(), None);
            let index = guards.0.first_mut().map(|(_, g)| &mut **g);
            if let Some(removed) =
                self.remove_locked(index, &target, user.as_ref(), (now, idle_ms), expired_only)
            {
                drop(guards);
                if target != *id {
                    self.shard(id).write().drop_alias(id);
                }
                return Some(removed);
            }
            // Gone, or its user changed under us: look again.
            if self
                .resolve(id, now)
                .is_none_or(|(t, u)| t == target && u == user)
            {
                return None;
            }
        }
        None
    }
}

/// Index-shard guards held together, each with its shard number.
struct UserLocks<'a>(Vec<(usize, MutexGuard<'a, UserIndex>)>);

impl UserLocks<'_> {
    /// The guard of index shard `i`, which the caller locked.
    fn get(&mut self, i: usize) -> &mut UserIndex {
        let at = self.0.iter().position(|(n, _)| *n == i);
        &mut self.0[at.expect("lock_users locked the index shard of every user passed here")].1
    }
}

fn unindex(index: &mut UserIndex, user: &Arc<str>, id: &SessionId) {
    if let Some(ids) = index.get_mut(user) {
        ids.remove(id);
        if ids.is_empty() {
            index.remove(user);
        }
    }
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryStore")
            .field("shards", &self.shards.len())
            .finish_non_exhaustive()
    }
}

impl Store for MemoryStore {
    fn is_shared(&self) -> bool {
        false
    }

    fn insert_within(
        &self,
        record: Record,
        idle_ms: u64,
        max_sessions: Option<usize>,
    ) -> Result<Vec<Removed>> {
        let user = record.user.clone();
        let id = record.id;
        let made_room = match max_sessions {
            Some(max) => {
                let made_room = self.make_room(max, record.last_seen, idle_ms);
                if user.is_none() && self.live.load(Ordering::Relaxed) >= max {
                    return Err(crate::store::full(max));
                }
                made_room
            }
            None => Vec::new(),
        };
        let mut guards = self.lock_users(user.as_deref(), None);
        {
            let mut shard = self.shard(&id).write();
            // Ids are 256-bit random: a clash means a broken RNG, which must not go unnoticed.
            if shard.find(&id).is_some() || shard.alias(&id).is_some() {
                return Err(Error::internal("session id collision"));
            }
            shard.put(Entry::from_record(record), idle_ms);
        }
        if let Some(user) = user {
            guards
                .get(self.user_index(&user))
                .entry(user)
                .or_default()
                .insert(id);
        }
        Ok(made_room)
    }

    fn load_gated(
        &self,
        id: &SessionId,
        now: UnixMillis,
        idle_ms: u64,
        gate: &Gate,
    ) -> Result<Load> {
        let target = {
            let shard = self.shard(id).read();
            if let Some(e) = shard.find(id) {
                return Ok(e.read(now, idle_ms, gate, false));
            }
            match shard.alias(id) {
                Some(a) if a.until > now => a.target,
                _ => return Ok(Load::Missing),
            }
        };
        let shard = self.shard(&target).read();
        Ok(match shard.find(&target) {
            Some(e) => e.read(now, idle_ms, gate, true),
            None => Load::Missing,
        })
    }

    fn swap_binding(
        &self,
        id: &SessionId,
        expected: Option<&Arc<BindingState>>,
        new: Option<Arc<BindingState>>,
        now: UnixMillis,
        idle_ms: u64,
    ) -> Result<Swapped> {
        let mut shard = self.shard(id).write();
        let Some(entry) = shard.find_mut(id) else {
            return Ok(Swapped::Gone);
        };
        if entry.check_live(now, idle_ms).is_err() {
            return Ok(Swapped::Gone);
        }
        if !same_state(entry.binding.as_ref(), expected) {
            return Ok(Swapped::Changed);
        }
        entry.binding = new;
        Ok(Swapped::Done)
    }

    fn rekey(
        &self,
        id: &SessionId,
        change: &Rekey,
        now: UnixMillis,
        idle_ms: u64,
    ) -> Result<Option<Record>> {
        let old_user = {
            let shard = self.shard(id).read();
            match shard.find(id) {
                Some(e) if e.check_live(now, idle_ms).is_ok() => e.user.clone(),
                _ => return Ok(None),
            }
        };
        if let Some(login) = &change.login
            && login.expected_user != old_user
        {
            return Ok(None);
        }
        let new_user = change
            .login
            .as_ref()
            .map(|l| l.user.clone())
            .or_else(|| old_user.clone());
        let mut guards = self.lock_users(old_user.as_deref(), new_user.as_deref());
        let record = {
            let (mut old_shard, mut new_shard) = self.lock_pair(id, &change.new_id);
            match old_shard.find(id) {
                Some(e) if e.user == old_user && e.check_live(now, idle_ms).is_ok() => {}
                _ => return Ok(None),
            }
            if old_shard.find(&change.new_id).is_some()
                || new_shard
                    .as_ref()
                    .is_some_and(|s| s.find(&change.new_id).is_some())
            {
                return Err(Error::internal("session id collision"));
            }
            let Some(mut entry) = old_shard.take(id) else {
                return Ok(None);
            };
            entry.id = change.new_id;
            entry.rotated_at = now;
            *entry.last_seen.get_mut() = now;
            // The flag follows the transport the token last travelled on.
            entry.secure = change.secure;
            if let Some(login) = &change.login {
                entry.user = Some(login.user.clone());
                entry.csrf = login.csrf.clone();
                entry.created_at = now;
                entry.deadline = login.deadline;
                if !login.keep_data {
                    entry.data = None;
                }
                if login.user_agent.is_some() {
                    entry.user_agent = login.user_agent.clone();
                }
                (entry.auth_level, entry.amr) = login.auth.clone().into_parts();
                if let BindingChange::Replace(binding) = &login.binding {
                    entry.binding = binding.clone();
                }
            }
            if let Some(until) = change.alias_until {
                old_shard.put_alias(Alias {
                    id: *id,
                    target: change.new_id,
                    until,
                });
            }
            let record = Record {
                predecessor: change.alias_until.map(|_| *id),
                ..entry.snapshot()
            };
            match new_shard.as_mut() {
                Some(shard) => shard.put(entry, idle_ms),
                None => old_shard.put(entry, idle_ms),
            }
            record
        };
        if let Some(user) = &old_user {
            unindex(guards.get(self.user_index(user)), user, id);
        }
        if let Some(user) = &new_user {
            let index = guards.get(self.user_index(user));
            index.entry(user.clone()).or_default().insert(change.new_id);
        }
        Ok(Some(record))
    }

    fn update_data(
        &self,
        id: &SessionId,
        op: &DataOp,
        max_bytes: usize,
        now: UnixMillis,
        idle_ms: u64,
    ) -> Result<Option<Arc<Data>>> {
        let apply = |shard: &mut Shard, target: &SessionId| -> Option<Result<Option<Arc<Data>>>> {
            let entry = shard.find_mut(target)?;
            // DESIGN.md: a write to a session that ended while the request was in flight fails
            // with `unknown`, whether it ended by logout or by expiry.
            if entry.check_live(now, idle_ms).is_err() {
                return Some(Err(Error::rejected(Reason::Unknown)));
            }
            Some(
                data::apply(entry.data.as_ref(), op, max_bytes)
                    .inspect(|next| entry.data = next.clone()),
            )
        };
        self.on_primary(id, now, apply)
            .unwrap_or_else(|| Err(Error::rejected(Reason::Unknown)))
    }

    fn mark_insecure(&self, id: &SessionId, now: UnixMillis, idle_ms: u64) -> Result<bool> {
        let apply = |shard: &mut Shard, target: &SessionId| -> Option<bool> {
            let entry = shard.find_mut(target)?;
            if entry.check_live(now, idle_ms).is_err() {
                return Some(false);
            }
            entry.secure = false;
            Some(true)
        };
        Ok(self.on_primary(id, now, apply).unwrap_or(false))
    }

    fn set_expiry(
        &self,
        id: &SessionId,
        change: &ExpiryChange,
        now: UnixMillis,
        idle_ms: u64,
    ) -> Result<Option<Record>> {
        let apply = |shard: &mut Shard, target: &SessionId| -> Option<Option<Record>> {
            let entry = shard.find_mut(target)?;
            // An expired record stays expired: restoring a longer expiry must not revive it.
            if entry.check_live(now, idle_ms).is_err() {
                return Some(None);
            }
            let was_due = entry.expires_at(idle_ms);
            entry.max_idle_ms = change.max_idle_ms.unwrap_or(u64::MAX);
            entry.deadline = change.deadline;
            let due = entry.expires_at(idle_ms);
            let record = entry.snapshot();
            let anonymous = entry.user.is_none();
            // The wheel holds the record at its old due time; a sweep then would be too late.
            // A later due time needs nothing: the sweep at the old time re-files it.
            if tick(due) < tick(was_due) {
                if anonymous {
                    shard.file_anonymous(target.prefix(), due);
                } else {
                    shard.file(target.prefix(), due);
                }
            }
            Some(Some(record))
        };
        Ok(self.on_primary(id, now, apply).flatten())
    }

    fn remove(&self, id: &SessionId, now: UnixMillis, idle_ms: u64) -> Result<Option<Removed>> {
        Ok(self.remove_with(id, now, idle_ms, false))
    }

    fn remove_user(
        &self,
        user: &str,
        keep: Option<&SessionId>,
        now: UnixMillis,
        idle_ms: u64,
    ) -> Result<Vec<Removed>> {
        let mut guards = self.lock_users(Some(user), None);
        let index = guards.get(self.user_index(user));
        let Some((user_key, ids)) = index.remove_entry(user) else {
            return Ok(Vec::new());
        };
        let keep = keep.and_then(|k| {
            if ids.contains(k) {
                return Some(*k);
            }
            let shard = self.shard(k).read();
            shard.alias(k).filter(|a| a.until > now).map(|a| a.target)
        });
        let mut removed = Vec::with_capacity(ids.len());
        let mut kept = HashSet::new();
        for id in ids {
            if Some(id) == keep {
                kept.insert(id);
                continue;
            }
            let mut shard = self.shard(&id).write();
            if shard
                .find(&id)
                .is_some_and(|e| e.user.as_ref() == Some(&user_key))
                && let Some(entry) = shard.take(&id)
            {
                removed.push(Removed {
                    id,
                    user: entry.user.clone(),
                    expired: entry.check_live(now, idle_ms).err(),
                });
            }
        }
        if !kept.is_empty() {
            index.insert(user_key, kept);
        }
        Ok(removed)
    }

    fn remove_all(&self, now: UnixMillis, idle_ms: u64) -> Result<usize> {
        let mut user_guards: Vec<_> = self.users.iter().map(|m| m.lock()).collect();
        let mut shard_guards: Vec<_> = self.shards.iter().map(|s| s.0.write()).collect();
        let mut count = 0;
        for shard in &mut shard_guards {
            count += shard
                .sessions
                .iter()
                .filter(|e| e.check_live(now, idle_ms).is_ok())
                .count();
            shard
                .live
                .fetch_sub(shard.sessions.len(), Ordering::Relaxed);
            **shard = Shard::new(Arc::clone(&shard.live));
        }
        for index in &mut user_guards {
            index.clear();
        }
        Ok(count)
    }

    fn list_user(&self, user: &str) -> Result<Vec<Record>> {
        let mut guards = self.lock_users(Some(user), None);
        let Some(ids) = guards.get(self.user_index(user)).get(user) else {
            return Ok(Vec::new());
        };
        Ok(ids
            .iter()
            .filter_map(|id| self.shard(id).read().find(id).map(Entry::snapshot))
            .collect())
    }

    fn sweep(&self, now: UnixMillis, idle_ms: u64) -> Result<Vec<Removed>> {
        let mut removed = Vec::new();
        let mut owned = Vec::new();
        for padded in self.shards.iter() {
            let mut shard = padded.0.write();
            // Buckets up to ceil(now): exact to the millisecond; entries not yet due are re-filed.
            let later = shard.wheel.split_off(&(tick(now) + 1));
            let due = std::mem::replace(&mut shard.wheel, later);
            let later = shard.anonymous.split_off(&(tick(now) + 1));
            let due_anonymous = std::mem::replace(&mut shard.anonymous, later);
            // Both wheels' buckets (maps with the same keys: not merged, which would drop one).
            let prefixes: Vec<u64> = due
                .into_values()
                .chain(due_anonymous.into_values())
                .flatten()
                .collect();
            for prefix in prefixes {
                sweep_prefix(&mut shard, prefix, now, idle_ms, &mut removed, &mut owned);
            }
        }
        // Sessions of a user go through the index lock protocol, outside the shard lock.
        for id in owned {
            if let Some(r) = self.remove_with(&id, now, idle_ms, true) {
                removed.push(r);
            }
        }
        Ok(removed)
    }

    fn len(&self) -> Result<usize> {
        Ok(self.shards.iter().map(|s| s.0.read().sessions.len()).sum())
    }
}

/// Check everything filed under `prefix`: drop spent aliases and expired anonymous records, queue
/// expired records of users, and re-file what is still alive at its new due time.
fn sweep_prefix(
    shard: &mut Shard,
    prefix: u64,
    now: UnixMillis,
    idle_ms: u64,
    removed: &mut Vec<Removed>,
    owned: &mut Vec<SessionId>,
) {
    while let Ok(spent) = shard
        .aliases
        .find_entry(prefix, |a| a.id.prefix() == prefix && a.until <= now)
    {
        spent.remove();
    }
    let mut refile = shard
        .aliases
        .iter_hash(prefix)
        .filter(|a| a.id.prefix() == prefix)
        .map(|a| a.until)
        .min();
    let mut refile_anonymous = None;
    while let Some(entry) = shard.sessions.take_prefixed(prefix, |e| {
        e.user.is_none() && e.check_live(now, idle_ms).is_err()
    }) {
        shard.live.fetch_sub(1, Ordering::Relaxed);
        removed.push(Removed {
            id: entry.id,
            user: None,
            expired: entry.check_live(now, idle_ms).err(),
        });
    }
    for e in shard.sessions.prefixed(prefix) {
        if e.check_live(now, idle_ms).is_err() {
            owned.push(e.id);
        } else {
            let due = e.expires_at(idle_ms);
            let wheel = if e.user.is_none() {
                &mut refile_anonymous
            } else {
                &mut refile
            };
            *wheel = Some(wheel.map_or(due, |r: UnixMillis| r.min(due)));
        }
    }
    if let Some(due) = refile {
        shard.file(prefix, due);
    }
    if let Some(due) = refile_anonymous {
        shard.file_anonymous(prefix, due);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use crate::binding::Gate;
    use crate::csrf::CsrfSecret;
    use crate::fields::Fields;
    use crate::id::SessionId;
    use crate::record::{Load, Record};
    use crate::store::{MemoryStore, Store};

    /// A narrow read leaves the parts it was not asked for in the store: their allocations are
    /// not touched (no reference count moves) and no secret is copied out.
    #[test]
    fn a_narrow_read_does_not_touch_the_parts_it_was_not_asked_for() {
        let store = MemoryStore::with_shards(4);
        let id = SessionId::from_bytes([9; 32]);
        let mut record = Record::new(
            id,
            Some("u".into()),
            1_000,
            60_000,
            true,
            CsrfSecret::from_bytes([5; 32]),
        );
        let data = Arc::new(crate::Data::new());
        let agent: Arc<str> = Arc::from("agent");
        record.data = Some(Arc::clone(&data));
        record.user_agent = Some(Arc::clone(&agent));
        store.insert_within(record, 60_000, None).unwrap();
        let read = |fields| match store
            .load_gated(
                &id,
                2_000,
                60_000,
                &Gate {
                    fields,
                    ..Gate::NONE
                },
            )
            .unwrap()
        {
            Load::Live { record, .. } => record,
            other => panic!("not live: {other:?}"),
        };
        let narrow = read(Fields::NONE);
        assert_eq!(
            (Arc::strong_count(&data), Arc::strong_count(&agent)),
            (2, 2)
        );
        assert!(narrow.data.is_none() && narrow.user_agent.is_none());
        assert!(narrow.csrf == CsrfSecret::UNREAD);
        assert_eq!(narrow.user.as_deref(), Some("u"));
        let full = read(Fields::ALL);
        assert_eq!(
            (Arc::strong_count(&data), Arc::strong_count(&agent)),
            (3, 3)
        );
        assert!(full.csrf == CsrfSecret::from_bytes([5; 32]));
        let data_only = read(Fields::DATA);
        assert_eq!(
            (Arc::strong_count(&data), Arc::strong_count(&agent)),
            (4, 3)
        );
        drop((narrow, full, data_only));
    }

    mod conformance_one_shard {
        crate::store_conformance_tests!(crate::store::MemoryStore::with_shards(1));
    }
    mod conformance_many_shards {
        crate::store_conformance_tests!(crate::store::MemoryStore::with_shards(64));
    }
}
