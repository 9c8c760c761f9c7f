//! Behaviour every [`Store`] must have, as functions a store's tests call through
//! [`store_conformance_tests!`](crate::store_conformance_tests).
//!
//! Each case takes a fresh, empty store. Times are explicit, so no clock is involved.

use std::sync::Arc;

use serde_json::json;

use crate::authn::Authn;
use crate::binding::{
    Binding, BindingState, Gate, Missing, Presented, Slot, Swapped, challenge_digest, cookie_digest,
};
use crate::csrf::CsrfSecret;
use crate::data::DataOp;
use crate::error::{ErrorKind, Reason};
use crate::id::{IdDeriver, SessionId};
use crate::record::{BindingChange, ExpiryChange, Load, LoginChange, Record, Rekey};
use crate::store::Store;
use crate::token::Token;

/// Start of time in these cases.
pub const T0: u64 = 1_700_000_000_000;
/// Idle timeout used by these cases.
pub const IDLE: u64 = 60_000;
/// Absolute timeout used by these cases.
pub const ABSOLUTE: u64 = 600_000;

/// Generate one `#[test]` per conformance case for the store built by `$make` (an expression
/// evaluated afresh for each case). With `optional`, `$make` gives an `Option` and a case whose
/// store is `None` (e.g. no redis-server outside CI) returns early.
///
/// ```ignore
/// tessera::store_conformance_tests!(tessera::MemoryStore::with_shards(4));
/// tessera::store_conformance_tests!(optional my_redis_store_if_available());
/// ```
#[macro_export]
macro_rules! store_conformance_tests {
    ($make:expr) => {
        $crate::store_conformance_tests!(optional Some($make));
    };
    (optional $make:expr) => {
        $crate::store_conformance_tests!(@cases $make;
            insert_then_load_touches,
            missing_ids_are_missing,
            idle_expiry_is_not_touched,
            absolute_expiry,
            rekey_leaves_an_alias_for_the_grace_window,
            only_the_immediately_preceding_token_is_an_alias,
            rekey_refuses_aliases_and_expired_records,
            login_rekey_changes_owner_and_secrets,
            data_writes_follow_aliases_and_never_resurrect,
            remove_ends_session_and_alias,
            remove_user_keeps_the_named_session,
            remove_all_and_len,
            sweep_removes_only_what_expired,
            set_expiry_shortens_the_idle_timeout,
            set_expiry_shortens_the_deadline,
            set_expiry_follows_an_alias,
            set_expiry_never_resurrects,
            sweep_removes_what_its_own_expiry_ended,
            set_expiry_none_restores_the_configured_idle,
            login_keeps_the_sessions_own_idle,
            the_cap_evicts_the_least_recently_seen_anonymous_session,
            the_cap_never_ends_or_refuses_a_signed_in_session,
            the_cap_ends_an_expired_session_before_a_live_one,
            binding_swaps_only_from_the_expected_state,
            a_bound_record_is_served_only_with_its_cookie,
            data_writes_and_binding_changes_keep_each_other,
            authentication_and_binding_follow_rekeys,
        );
    };
    (@cases $make:expr; $($case:ident),* $(,)?) => {
        $(
            #[test]
            fn $case() {
                if let Some(store) = $make {
                    $crate::store::conformance::$case(&store);
                }
            }
        )*
    };
}

fn fresh(user: Option<&str>, now: u64) -> (Token, Record) {
    let token = Token::generate().expect("randomness");
    let id = IdDeriver::new(None).derive(&token);
    let record = Record::new(
        id,
        user.map(Arc::from),
        now,
        ABSOLUTE,
        true,
        CsrfSecret::generate().expect("randomness"),
    );
    (token, record)
}

fn new_id() -> SessionId {
    fresh(None, T0).1.id
}

fn live(store: &dyn Store, id: &SessionId, now: u64) -> Record {
    match store.load(id, now, IDLE).expect("store") {
        Load::Live { record, .. } => record,
        other => panic!("expected a live session, got {other:?}"),
    }
}

fn is_missing(store: &dyn Store, id: &SessionId, now: u64) -> bool {
    matches!(store.load(id, now, IDLE).expect("store"), Load::Missing)
}

fn rotate(store: &dyn Store, id: &SessionId, now: u64, grace: Option<u64>) -> Option<Record> {
    let change = Rekey {
        new_id: new_id(),
        alias_until: grace.map(|g| now + g),
        secure: false,
        login: None,
    };
    store.rekey(id, &change, now, IDLE).expect("store")
}

/// Insert, then load: the record comes back and `last_seen` moves.
pub fn insert_then_load_touches(store: &dyn Store) {
    let (_, r) = fresh(Some("alice"), T0);
    store.insert(r.clone(), IDLE).unwrap();
    let got = live(store, &r.id, T0 + 10);
    assert_eq!(got.id, r.id);
    assert_eq!(got.user.as_deref(), Some("alice"));
    assert_eq!(got.last_seen, T0 + 10);
    assert_eq!(got.csrf, r.csrf);
    assert_eq!(live(store, &r.id, T0 + 20).last_seen, T0 + 20);
}

/// Ids never inserted load as missing.
pub fn missing_ids_are_missing(store: &dyn Store) {
    assert!(is_missing(store, &new_id(), T0));
}

/// At `last_seen + idle` the record is expired and is not touched back to life.
pub fn idle_expiry_is_not_touched(store: &dyn Store) {
    let (_, r) = fresh(None, T0);
    store.insert(r.clone(), IDLE).unwrap();
    live(store, &r.id, T0 + IDLE - 1);
    match store.load(&r.id, T0 + 2 * IDLE - 1, IDLE).unwrap() {
        Load::Expired(Reason::ExpiredIdle, _) => {}
        other => panic!("{other:?}"),
    }
    // A later look still sees it expired: the failed load did not touch it.
    assert!(matches!(
        store.load(&r.id, T0 + 2 * IDLE, IDLE).unwrap(),
        Load::Expired(Reason::ExpiredIdle, _)
    ));
}

/// At the deadline the record is expired, however fresh.
pub fn absolute_expiry(store: &dyn Store) {
    let (_, r) = fresh(None, T0);
    store.insert(r.clone(), IDLE).unwrap();
    let mut t = T0;
    while t + IDLE / 2 < T0 + ABSOLUTE {
        t += IDLE / 2;
        live(store, &r.id, t);
    }
    assert!(matches!(
        store.load(&r.id, T0 + ABSOLUTE, IDLE).unwrap(),
        Load::Expired(Reason::ExpiredAbsolute, _)
    ));
}

/// After a rekey the old id resolves to the new record until the alias deadline.
pub fn rekey_leaves_an_alias_for_the_grace_window(store: &dyn Store) {
    let (_, r) = fresh(Some("bob"), T0);
    store.insert(r.clone(), IDLE).unwrap();
    let moved = rotate(store, &r.id, T0 + 5, Some(1000)).expect("rekeyed");
    assert_ne!(moved.id, r.id);
    assert_eq!(moved.rotated_at, T0 + 5);
    assert_eq!(moved.predecessor, Some(r.id));
    match store.load(&r.id, T0 + 1004, IDLE).unwrap() {
        Load::Live { record, via_alias } => {
            assert!(via_alias);
            assert_eq!(record.id, moved.id);
        }
        other => panic!("{other:?}"),
    }
    assert!(is_missing(store, &r.id, T0 + 1005));
    assert_eq!(live(store, &moved.id, T0 + 1005).id, moved.id);
    let listed = store.list_user("bob").unwrap();
    assert_eq!(
        listed.iter().map(|r| r.id).collect::<Vec<_>>(),
        vec![moved.id]
    );
    // Without grace the old id dies at once.
    let again = rotate(store, &moved.id, T0 + 2000, None).unwrap();
    assert!(is_missing(store, &moved.id, T0 + 2000));
    live(store, &again.id, T0 + 2000);
}

/// A second rotation ends the first alias even inside its grace.
pub fn only_the_immediately_preceding_token_is_an_alias(store: &dyn Store) {
    let (_, r) = fresh(None, T0);
    store.insert(r.clone(), IDLE).unwrap();
    let second = rotate(store, &r.id, T0, Some(30_000)).unwrap();
    let third = rotate(store, &second.id, T0 + 1, Some(30_000)).unwrap();
    assert!(
        is_missing(store, &r.id, T0 + 2),
        "the first token must be dead"
    );
    assert_eq!(live(store, &second.id, T0 + 2).id, third.id);
}

/// Rekey works only on a live record that is primary under the id.
pub fn rekey_refuses_aliases_and_expired_records(store: &dyn Store) {
    let (_, r) = fresh(None, T0);
    store.insert(r.clone(), IDLE).unwrap();
    let moved = rotate(store, &r.id, T0, Some(30_000)).unwrap();
    assert!(
        rotate(store, &r.id, T0 + 1, Some(30_000)).is_none(),
        "an alias must not rotate"
    );
    live(store, &moved.id, T0 + 1);
    assert!(
        rotate(store, &moved.id, T0 + 1 + IDLE, Some(30_000)).is_none(),
        "expired"
    );
    assert!(rotate(store, &new_id(), T0, None).is_none(), "missing");
}

/// A login rekey changes the owner, the CSRF secret and the deadline; the index follows.
pub fn login_rekey_changes_owner_and_secrets(store: &dyn Store) {
    let (_, r) = fresh(None, T0);
    store.insert(r.clone(), IDLE).unwrap();
    store
        .update_data(
            &r.id,
            &DataOp::Set("cart".into(), json!([1])),
            1000,
            T0,
            IDLE,
        )
        .unwrap();
    let csrf = CsrfSecret::generate().unwrap();
    let mut change = Rekey {
        new_id: new_id(),
        alias_until: None,
        secure: true,
        login: Some(LoginChange {
            user: Arc::from("carol"),
            expected_user: Some(Arc::from("someone else")),
            csrf: csrf.clone(),
            deadline: T0 + 100 + ABSOLUTE,
            keep_data: true,
            user_agent: Some(Arc::from("agent/1")),
            auth: Authn::default(),
            binding: BindingChange::Replace(None),
        }),
    };
    assert!(
        store
            .rekey(&r.id, &change, T0 + 100, IDLE)
            .unwrap()
            .is_none(),
        "user mismatch"
    );
    if let Some(login) = change.login.as_mut() {
        login.expected_user = None;
    }
    let got = store
        .rekey(&r.id, &change, T0 + 100, IDLE)
        .unwrap()
        .unwrap();
    assert_eq!(got.user.as_deref(), Some("carol"));
    assert_eq!(got.csrf, csrf);
    assert_eq!(got.created_at, T0 + 100);
    assert_eq!(got.deadline, T0 + 100 + ABSOLUTE);
    assert_eq!(got.user_agent.as_deref(), Some("agent/1"));
    assert_eq!(got.data.as_ref().unwrap().get("cart"), Some(&json!([1])));
    assert!(is_missing(store, &r.id, T0 + 100));
    assert_eq!(store.list_user("carol").unwrap().len(), 1);
    // Switching user without keeping data clears it.
    let (newer, _) = (new_id(), ());
    let change = Rekey {
        new_id: newer,
        alias_until: None,
        secure: true,
        login: Some(LoginChange {
            user: Arc::from("dave"),
            expected_user: Some(Arc::from("carol")),
            csrf: CsrfSecret::generate().unwrap(),
            deadline: T0 + 200 + ABSOLUTE,
            keep_data: false,
            user_agent: None,
            auth: Authn::default(),
            binding: BindingChange::Replace(None),
        }),
    };
    let got = store
        .rekey(&got.id, &change, T0 + 200, IDLE)
        .unwrap()
        .unwrap();
    assert!(got.data.is_none());
    assert_eq!(got.user_agent.as_deref(), Some("agent/1"));
    assert!(store.list_user("carol").unwrap().is_empty());
    assert_eq!(store.list_user("dave").unwrap()[0].id, newer);
}

/// Writes go to the successor through an alias, fail on ended sessions and respect the cap.
pub fn data_writes_follow_aliases_and_never_resurrect(store: &dyn Store) {
    let (_, r) = fresh(None, T0);
    store.insert(r.clone(), IDLE).unwrap();
    let moved = rotate(store, &r.id, T0, Some(30_000)).unwrap();
    store
        .update_data(&r.id, &DataOp::Set("a".into(), json!(1)), 100, T0 + 1, IDLE)
        .unwrap();
    store
        .update_data(
            &moved.id,
            &DataOp::Set("b".into(), json!(2)),
            100,
            T0 + 1,
            IDLE,
        )
        .unwrap();
    let data = live(store, &moved.id, T0 + 2).data.unwrap();
    assert_eq!(
        (data.get("a"), data.get("b")),
        (Some(&json!(1)), Some(&json!(2)))
    );
    let too_big = store.update_data(
        &moved.id,
        &DataOp::Set("c".into(), json!("x".repeat(200))),
        100,
        T0 + 2,
        IDLE,
    );
    assert_eq!(too_big.unwrap_err().kind(), ErrorKind::DataTooLarge);
    assert_eq!(live(store, &moved.id, T0 + 3).data.unwrap().len(), 2);
    store.remove(&moved.id, T0 + 3, IDLE).unwrap();
    for id in [r.id, moved.id] {
        let err = store
            .update_data(&id, &DataOp::Set("z".into(), json!(0)), 100, T0 + 4, IDLE)
            .unwrap_err();
        assert_eq!(err.reason(), Some(Reason::Unknown));
        assert!(
            is_missing(store, &id, T0 + 4),
            "a write must not re-create the session"
        );
    }
    let (_, idle) = fresh(None, T0);
    store.insert(idle.clone(), IDLE).unwrap();
    let err = store
        .update_data(
            &idle.id,
            &DataOp::Set("z".into(), json!(0)),
            100,
            T0 + IDLE,
            IDLE,
        )
        .unwrap_err();
    assert_eq!(
        err.reason(),
        Some(Reason::Unknown),
        "DESIGN.md: writes to expired sessions fail with unknown"
    );
}

/// Removing by id ends the session; removing by an in-grace alias ends its successor.
pub fn remove_ends_session_and_alias(store: &dyn Store) {
    let (_, r) = fresh(Some("erin"), T0);
    store.insert(r.clone(), IDLE).unwrap();
    let moved = rotate(store, &r.id, T0, Some(30_000)).unwrap();
    let removed = store
        .remove(&r.id, T0 + 1, IDLE)
        .unwrap()
        .expect("removed via alias");
    assert_eq!(removed.id, moved.id);
    assert_eq!(removed.user.as_deref(), Some("erin"));
    assert!(is_missing(store, &r.id, T0 + 1) && is_missing(store, &moved.id, T0 + 1));
    assert!(store.list_user("erin").unwrap().is_empty());
    assert!(store.remove(&moved.id, T0 + 1, IDLE).unwrap().is_none());
    let (_, s) = fresh(None, T0);
    store.insert(s.clone(), IDLE).unwrap();
    let s2 = rotate(store, &s.id, T0, Some(30_000)).unwrap();
    assert!(store.remove(&s2.id, T0, IDLE).unwrap().is_some());
    assert!(
        is_missing(store, &s.id, T0),
        "the alias dies with its session"
    );
}

/// `remove_user` ends all of a user's sessions but the kept one, which may be named by alias.
pub fn remove_user_keeps_the_named_session(store: &dyn Store) {
    let mut ids = Vec::new();
    for _ in 0..3 {
        let (_, r) = fresh(Some("frank"), T0);
        store.insert(r.clone(), IDLE).unwrap();
        ids.push(r.id);
    }
    let (_, other) = fresh(Some("grace"), T0);
    store.insert(other.clone(), IDLE).unwrap();
    let kept = rotate(store, &ids[0], T0, Some(30_000)).unwrap();
    let removed = store
        .remove_user("frank", Some(&ids[0]), T0 + 1, IDLE)
        .unwrap();
    assert_eq!(removed.len(), 2);
    live(store, &kept.id, T0 + 1);
    live(store, &other.id, T0 + 1);
    assert_eq!(store.list_user("frank").unwrap().len(), 1);
    assert_eq!(
        store
            .remove_user("frank", None, T0 + 1, IDLE)
            .unwrap()
            .len(),
        1
    );
    assert!(is_missing(store, &kept.id, T0 + 1));
    assert!(store.list_user("frank").unwrap().is_empty());
    assert!(
        store
            .remove_user("nobody", None, T0, IDLE)
            .unwrap()
            .is_empty()
    );
}

/// `remove_all` empties the store; `len` counts sessions, not aliases.
pub fn remove_all_and_len(store: &dyn Store) {
    let mut first = None;
    for i in 0..5 {
        let (_, r) = fresh(if i % 2 == 0 { Some("h") } else { None }, T0);
        store.insert(r.clone(), IDLE).unwrap();
        first.get_or_insert(r.id);
    }
    rotate(store, &first.unwrap(), T0, Some(30_000)).unwrap();
    assert_eq!(store.len().unwrap(), 5);
    assert_eq!(store.remove_all(T0, IDLE).unwrap(), 5);
    assert_eq!(store.len().unwrap(), 0);
    assert!(store.is_empty().unwrap());
    assert!(store.list_user("h").unwrap().is_empty());
}

/// Sweep removes idle- and absolute-expired records and spent aliases, never a live one, and
/// keeps the user index in step.
pub fn sweep_removes_only_what_expired(store: &dyn Store) {
    let (_, idle) = fresh(Some("ivy"), T0);
    let (_, busy) = fresh(Some("ivy"), T0);
    let (_, anon) = fresh(None, T0);
    for r in [&idle, &busy, &anon] {
        store.insert(r.clone(), IDLE).unwrap();
    }
    let busy_moved = rotate(store, &busy.id, T0, Some(5_000)).unwrap();
    let mut t = T0;
    while t < T0 + 2 * IDLE {
        t += IDLE / 3;
        live(store, &busy_moved.id, t);
        let swept = store.sweep(t, IDLE).unwrap();
        assert!(
            swept.iter().all(|r| r.id != busy_moved.id),
            "swept a live session"
        );
    }
    assert!(is_missing(store, &idle.id, t) && is_missing(store, &anon.id, t));
    assert!(is_missing(store, &busy.id, t), "spent alias");
    assert_eq!(store.len().unwrap(), 1);
    let listed: Vec<SessionId> = store
        .list_user("ivy")
        .unwrap()
        .iter()
        .map(|r| r.id)
        .collect();
    assert_eq!(listed, vec![busy_moved.id]);
    // Absolute expiry is swept too.
    let end = T0 + ABSOLUTE;
    while t + IDLE / 3 < end {
        t += IDLE / 3;
        live(store, &busy_moved.id, t);
    }
    let swept = store.sweep(end, IDLE).unwrap();
    assert_eq!(swept.len(), 1);
    assert_eq!(swept[0].expired, Some(Reason::ExpiredAbsolute));
    assert_eq!(store.len().unwrap(), 0);
    assert!(store.list_user("ivy").unwrap().is_empty());
}

fn set_expiry(
    store: &dyn Store,
    id: &SessionId,
    max_idle_ms: Option<u64>,
    deadline: u64,
    now: u64,
) -> Option<Record> {
    let change = ExpiryChange {
        max_idle_ms,
        deadline,
    };
    store.set_expiry(id, &change, now, IDLE).expect("store")
}

/// A shorter idle timeout of its own ends the session at `last_seen + own`, not before, and is
/// kept on the record; the call does not touch the session.
pub fn set_expiry_shortens_the_idle_timeout(store: &dyn Store) {
    let own = IDLE / 4;
    let (_, r) = fresh(Some("jill"), T0);
    store.insert(r.clone(), IDLE).unwrap();
    let changed = set_expiry(store, &r.id, Some(own), r.deadline, T0 + 10).expect("live");
    assert_eq!(changed.id, r.id);
    assert_eq!(changed.max_idle_ms, Some(own));
    assert_eq!(changed.deadline, r.deadline);
    assert_eq!(changed.last_seen, T0, "setting the expiry is not a use");
    assert_eq!(changed.expires_at(IDLE), T0 + own);
    let seen = live(store, &r.id, T0 + own - 1);
    assert_eq!(seen.max_idle_ms, Some(own));
    assert_eq!(seen.expires_at(IDLE), T0 + 2 * own - 1);
    assert_eq!(store.list_user("jill").unwrap()[0].max_idle_ms, Some(own));
    live(store, &r.id, T0 + 2 * own - 2);
    assert!(matches!(
        store.load(&r.id, T0 + 3 * own - 2, IDLE).unwrap(),
        Load::Expired(Reason::ExpiredIdle, _)
    ));
    // Expired means expired for every primitive, under the session's own timeout.
    assert!(rotate(store, &r.id, T0 + 3 * own - 2, None).is_none());
    let err = store
        .update_data(
            &r.id,
            &DataOp::Set("k".into(), json!(1)),
            100,
            T0 + 3 * own - 2,
            IDLE,
        )
        .unwrap_err();
    assert_eq!(err.reason(), Some(Reason::Unknown));
    let removed = store
        .remove(&r.id, T0 + 3 * own - 2, IDLE)
        .unwrap()
        .unwrap();
    assert_eq!(removed.expired, Some(Reason::ExpiredIdle));
}

/// An earlier absolute deadline ends the session then, however fresh.
pub fn set_expiry_shortens_the_deadline(store: &dyn Store) {
    let (_, r) = fresh(None, T0);
    store.insert(r.clone(), IDLE).unwrap();
    let end = T0 + 5_000;
    let changed = set_expiry(store, &r.id, None, end, T0 + 1).expect("live");
    assert_eq!((changed.deadline, changed.max_idle_ms), (end, None));
    assert_eq!(changed.expires_at(IDLE), end);
    assert_eq!(live(store, &r.id, end - 1).deadline, end);
    assert!(matches!(
        store.load(&r.id, end, IDLE).unwrap(),
        Load::Expired(Reason::ExpiredAbsolute, _)
    ));
}

/// Through an in-grace alias the successor changes; through a spent alias nothing does.
pub fn set_expiry_follows_an_alias(store: &dyn Store) {
    let (_, r) = fresh(Some("kim"), T0);
    store.insert(r.clone(), IDLE).unwrap();
    let moved = rotate(store, &r.id, T0, Some(1_000)).unwrap();
    let changed = set_expiry(store, &r.id, Some(IDLE / 2), T0 + 100_000, T0 + 1).expect("live");
    assert_eq!(changed.id, moved.id);
    let seen = live(store, &moved.id, T0 + 2);
    assert_eq!(
        (seen.max_idle_ms, seen.deadline),
        (Some(IDLE / 2), T0 + 100_000)
    );
    assert!(set_expiry(store, &r.id, None, T0 + 200_000, T0 + 1_000).is_none());
    assert_eq!(live(store, &moved.id, T0 + 1_000).deadline, T0 + 100_000);
}

/// A removed or expired session stays gone: setting an expiry — even restoring a longer one —
/// neither re-creates nor revives it.
pub fn set_expiry_never_resurrects(store: &dyn Store) {
    let (_, gone) = fresh(Some("lee"), T0);
    store.insert(gone.clone(), IDLE).unwrap();
    store.remove(&gone.id, T0 + 1, IDLE).unwrap().unwrap();
    assert!(set_expiry(store, &gone.id, None, gone.deadline, T0 + 2).is_none());
    assert!(is_missing(store, &gone.id, T0 + 2));
    assert!(store.list_user("lee").unwrap().is_empty());
    assert_eq!(store.len().unwrap(), 0);
    assert!(set_expiry(store, &new_id(), None, T0 + ABSOLUTE, T0).is_none());

    // Expired under its own idle timeout: restoring the configured one does not revive it.
    let (_, idle) = fresh(None, T0);
    store.insert(idle.clone(), IDLE).unwrap();
    set_expiry(store, &idle.id, Some(1_000), idle.deadline, T0).unwrap();
    assert!(set_expiry(store, &idle.id, None, idle.deadline, T0 + 1_000).is_none());
    match store.load(&idle.id, T0 + 1_000, IDLE).unwrap() {
        Load::Expired(Reason::ExpiredIdle, record) => {
            assert_eq!(record.max_idle_ms, Some(1_000), "left untouched");
        }
        other => panic!("{other:?}"),
    }

    // Past its shortened deadline: a later deadline does not revive it.
    let (_, ended) = fresh(None, T0);
    store.insert(ended.clone(), IDLE).unwrap();
    set_expiry(store, &ended.id, None, T0 + 100, T0).unwrap();
    assert!(set_expiry(store, &ended.id, None, ended.deadline, T0 + 100).is_none());
    match store.load(&ended.id, T0 + 100, IDLE).unwrap() {
        Load::Expired(Reason::ExpiredAbsolute, record) => assert_eq!(record.deadline, T0 + 100),
        other => panic!("{other:?}"),
    }
}

/// A sweep at the session's own, earlier expiry removes it — anonymous or a user's, by idle or
/// by deadline — and not a moment before; the rest stay.
pub fn sweep_removes_what_its_own_expiry_ended(store: &dyn Store) {
    let own = 5_000;
    let (_, anon) = fresh(None, T0);
    let (_, user) = fresh(Some("max"), T0);
    let (_, ends) = fresh(Some("max"), T0);
    let (_, other) = fresh(Some("max"), T0);
    for r in [&anon, &user, &ends, &other] {
        store.insert(r.clone(), IDLE).unwrap();
    }
    // A sweep files everything at its configured due time first.
    assert!(store.sweep(T0 + 1, IDLE).unwrap().is_empty());
    for r in [&anon, &user] {
        set_expiry(store, &r.id, Some(own), r.deadline, T0 + 2).unwrap();
    }
    set_expiry(store, &ends.id, None, T0 + own + 500, T0 + 2).unwrap();
    assert!(store.sweep(T0 + own - 1, IDLE).unwrap().is_empty());
    let mut swept = store.sweep(T0 + own, IDLE).unwrap();
    swept.sort_by_key(|r| r.id);
    let mut expected = vec![
        (anon.id, Reason::ExpiredIdle),
        (user.id, Reason::ExpiredIdle),
    ];
    expected.sort_by_key(|e| e.0);
    assert_eq!(
        swept
            .iter()
            .map(|r| (r.id, r.expired.unwrap()))
            .collect::<Vec<_>>(),
        expected
    );
    let swept = store.sweep(T0 + own + 500, IDLE).unwrap();
    assert_eq!(swept.len(), 1);
    assert_eq!(
        (swept[0].id, swept[0].expired),
        (ends.id, Some(Reason::ExpiredAbsolute))
    );
    assert_eq!(store.len().unwrap(), 1);
    let listed: Vec<SessionId> = store
        .list_user("max")
        .unwrap()
        .iter()
        .map(|r| r.id)
        .collect();
    assert_eq!(listed, vec![other.id]);
    live(store, &other.id, T0 + own + 500);
}

/// `None` brings back the configured idle timeout for a session still alive.
pub fn set_expiry_none_restores_the_configured_idle(store: &dyn Store) {
    let (_, r) = fresh(None, T0);
    store.insert(r.clone(), IDLE).unwrap();
    set_expiry(store, &r.id, Some(1_000), r.deadline, T0).unwrap();
    let restored = set_expiry(store, &r.id, None, r.deadline, T0 + 999).expect("still live");
    assert_eq!(restored.max_idle_ms, None);
    assert_eq!(restored.expires_at(IDLE), T0 + IDLE);
    assert_eq!(live(store, &r.id, T0 + IDLE - 1).max_idle_ms, None);
    // And a sweep at the shorter due time it once had leaves it alone.
    assert!(store.sweep(T0 + IDLE - 1, IDLE).unwrap().is_empty());
    live(store, &r.id, T0 + 2 * IDLE - 2);
}

/// A login rekey keeps the session's own idle timeout and sets the new deadline.
pub fn login_keeps_the_sessions_own_idle(store: &dyn Store) {
    let (_, r) = fresh(None, T0);
    store.insert(r.clone(), IDLE).unwrap();
    set_expiry(store, &r.id, Some(IDLE / 2), T0 + 1_000, T0).unwrap();
    let change = Rekey {
        new_id: new_id(),
        alias_until: None,
        secure: true,
        login: Some(LoginChange {
            user: Arc::from("nia"),
            expected_user: None,
            csrf: CsrfSecret::generate().unwrap(),
            deadline: T0 + 10 + ABSOLUTE,
            keep_data: true,
            user_agent: None,
            auth: Authn::default(),
            binding: BindingChange::Replace(None),
        }),
    };
    let got = store.rekey(&r.id, &change, T0 + 10, IDLE).unwrap().unwrap();
    assert_eq!(
        (got.max_idle_ms, got.deadline),
        (Some(IDLE / 2), T0 + 10 + ABSOLUTE)
    );
    live(store, &got.id, T0 + 10 + IDLE / 2 - 1);
    assert!(matches!(
        store.load(&got.id, T0 + 10 + IDLE - 1, IDLE).unwrap(),
        Load::Expired(Reason::ExpiredIdle, _)
    ));
}

/// Sessions of a cap case: anonymous ones, or `user`'s, seen last at `at`.
fn capped(
    store: &dyn Store,
    user: Option<&str>,
    at: u64,
    max: usize,
) -> crate::Result<(Record, Vec<crate::record::Removed>)> {
    let (_, r) = fresh(user, at);
    let removed = store.insert_within(r.clone(), IDLE, Some(max))?;
    Ok((r, removed))
}

/// At `max_sessions`, a new session evicts the least recently seen anonymous one.
pub fn the_cap_evicts_the_least_recently_seen_anonymous_session(store: &dyn Store) {
    let (a, none) = capped(store, None, T0, 3).expect("room");
    assert!(none.is_empty());
    let (b, _) = capped(store, None, T0 + 1_000, 3).expect("room");
    let (u, _) = capped(store, Some("alice"), T0 + 2_000, 3).expect("room");
    // `a` is seen again (past any store's touch slack), so `b` is now the least recently seen.
    live(store, &a.id, T0 + 40_000);
    let (c, removed) = capped(store, None, T0 + 41_000, 3).expect("room made");
    assert_eq!(removed.len(), 1, "{removed:?}");
    assert_eq!(removed[0].id, b.id);
    assert_eq!(removed[0].user, None);
    assert_eq!(removed[0].expired, None, "an eviction, not an expiry");
    assert!(is_missing(store, &b.id, T0 + 41_000));
    for id in [a.id, u.id, c.id] {
        live(store, &id, T0 + 41_000);
    }
    assert_eq!(store.len().expect("store"), 3);
}

/// Signed-in sessions are never evicted; an anonymous one that finds no room is `store_full`,
/// a sign-in never is.
pub fn the_cap_never_ends_or_refuses_a_signed_in_session(store: &dyn Store) {
    let (u1, _) = capped(store, Some("alice"), T0, 2).expect("room");
    let (u2, _) = capped(store, Some("bob"), T0 + 1, 2).expect("room");
    let full = capped(store, None, T0 + 2, 2).expect_err("no room for an anonymous session");
    assert_eq!(full.kind(), ErrorKind::StoreFull);
    assert_eq!(full.code(), "store_full");
    // A sign-in is never refused: the cap bounds what anonymous clients can make.
    let (u3, removed) = capped(store, Some("carol"), T0 + 3, 2).expect("a sign-in");
    assert!(removed.is_empty());
    for id in [u1.id, u2.id, u3.id] {
        live(store, &id, T0 + 4);
    }
    assert_eq!(store.len().expect("store"), 3);
}

/// An expired session not yet swept is ended first, and reported as expired.
pub fn the_cap_ends_an_expired_session_before_a_live_one(store: &dyn Store) {
    let (old, _) = capped(store, None, T0, 2).expect("room");
    let (recent, _) = capped(store, None, T0 + 30_000, 2).expect("room");
    // `old` has been idle past IDLE, not yet swept.
    let (_, removed) = capped(store, None, T0 + IDLE + 1_000, 2).expect("room made");
    assert_eq!(removed.len(), 1, "{removed:?}");
    assert_eq!(removed[0].id, old.id);
    assert_eq!(removed[0].expired, Some(Reason::ExpiredIdle));
    live(store, &recent.id, T0 + IDLE + 1_000);
}

// ---- device binding and step-up (issue 15) ----

fn bound_state(bound_at: u64, cookie: &str, until: u64) -> Arc<BindingState> {
    Arc::new(BindingState::Bound(Binding::new(
        [3; 16],
        r#"{"crv":"P-256","kty":"EC","x":"x","y":"y"}"#.into(),
        [4; 32],
        bound_at,
        Slot {
            hash: cookie_digest(cookie),
            until,
        },
    )))
}

fn offer_state(until: u64) -> Arc<BindingState> {
    Arc::new(BindingState::Offered(Slot {
        hash: challenge_digest("C0"),
        until,
    }))
}

fn gate(cookie: Option<&str>, touch: bool) -> Gate {
    Gate {
        presented: Presented::from_values(cookie.into_iter()),
        grace_ms: 0,
        touch,
        fields: crate::Fields::ALL,
    }
}

/// The live record whatever its binding (an id-named read, as an administrator's).
fn judged(store: &dyn Store, id: &SessionId, now: u64) -> Record {
    match store.load_gated(id, now, IDLE, &Gate::JUDGED).unwrap() {
        Load::Live { record, .. } => record,
        other => panic!("{other:?}"),
    }
}

fn last_seen(store: &dyn Store, id: &SessionId, now: u64) -> u64 {
    match store.load_gated(id, now, IDLE, &gate(None, false)).unwrap() {
        Load::Live { record, .. } | Load::Unproven(_, record) => record.last_seen,
        other => panic!("{other:?}"),
    }
}

/// The binding state changes only from the state the caller saw, on a live primary record.
pub fn binding_swaps_only_from_the_expected_state(store: &dyn Store) {
    let (_, r) = fresh(Some("bob"), T0);
    store.insert(r.clone(), IDLE).unwrap();
    let offer = offer_state(T0 + 100);
    let swap = |expected: Option<&Arc<BindingState>>, new: Option<Arc<BindingState>>, now| {
        store.swap_binding(&r.id, expected, new, now, IDLE).unwrap()
    };
    assert_eq!(swap(None, Some(offer.clone()), T0 + 1), Swapped::Done);
    // A caller that saw no binding lost the race.
    assert_eq!(swap(None, None, T0 + 2), Swapped::Changed);
    assert_eq!(live(store, &r.id, T0 + 3).binding.as_deref(), Some(&*offer));
    let bound = bound_state(T0 + 4, "B1", T0 + 1000);
    // Compared by value: an equal state read afresh matches.
    let seen = offer_state(T0 + 100);
    assert_eq!(
        swap(Some(&seen), Some(bound.clone()), T0 + 4),
        Swapped::Done
    );
    assert_eq!(swap(Some(&offer), None, T0 + 5), Swapped::Changed);
    // Nothing else moved: not the data, the user, last_seen or the deadline.
    let now = judged(store, &r.id, T0 + 6);
    assert_eq!(now.binding.as_deref(), Some(&*bound));
    assert_eq!(now.user.as_deref(), Some("bob"));
    assert_eq!(now.deadline, r.deadline);
    // Never on a missing, aliased-away or expired record.
    assert_eq!(
        store
            .swap_binding(&new_id(), None, None, T0 + 7, IDLE)
            .unwrap(),
        Swapped::Gone
    );
    let moved = rotate(store, &r.id, T0 + 8, Some(1000)).expect("rekeyed");
    assert_eq!(swap(Some(&bound), None, T0 + 9), Swapped::Gone);
    assert_eq!(
        moved.binding.as_deref(),
        Some(&*bound),
        "a rotation keeps the binding"
    );
    assert_eq!(
        store
            .swap_binding(&moved.id, Some(&bound), None, T0 + 8 + IDLE, IDLE)
            .unwrap(),
        Swapped::Gone
    );
}

/// A bound record is served, and touched, only to a request with a current bound cookie; an
/// unproven request leaves it as it was.
pub fn a_bound_record_is_served_only_with_its_cookie(store: &dyn Store) {
    let (_, mut r) = fresh(Some("bob"), T0);
    r.binding = Some(bound_state(T0, "B1", T0 + 30_000));
    store.insert(r.clone(), IDLE).unwrap();
    let load = |cookie: Option<&str>, now| store.load_gated(&r.id, now, IDLE, &gate(cookie, true));
    for (cookie, missing) in [(None, Missing::Absent), (Some("B2"), Missing::Mismatch)] {
        match load(cookie, T0 + 10_000).unwrap() {
            Load::Unproven(m, record) => {
                assert_eq!(m, missing);
                assert_eq!(record.last_seen, T0);
            }
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(last_seen(store, &r.id, T0 + 10_001), T0, "not touched");
    match load(Some("B1"), T0 + 20_000).unwrap() {
        Load::Live { record, .. } => assert_eq!(record.last_seen, T0 + 20_000),
        other => panic!("{other:?}"),
    }
    // The cookie's own time is over.
    assert!(matches!(
        load(Some("B1"), T0 + 30_000).unwrap(),
        Load::Unproven(Missing::Expired, _)
    ));
    // Through an in-grace alias, the same rule.
    let moved = rotate(store, &r.id, T0 + 30_001, Some(1000)).expect("rekeyed");
    assert!(matches!(
        load(None, T0 + 30_002).unwrap(),
        Load::Unproven(Missing::Absent, _)
    ));
    // A read that does not touch leaves last_seen where it was.
    let before = last_seen(store, &moved.id, T0 + 30_003);
    assert!(matches!(
        store
            .load_gated(&moved.id, T0 + 40_000, IDLE, &gate(Some("B1"), false))
            .unwrap(),
        Load::Unproven(Missing::Expired, _)
    ));
    assert_eq!(last_seen(store, &moved.id, T0 + 40_001), before);
}

/// A write of the data never touches the binding, and a binding change never the data.
pub fn data_writes_and_binding_changes_keep_each_other(store: &dyn Store) {
    let (_, r) = fresh(Some("bob"), T0);
    store.insert(r.clone(), IDLE).unwrap();
    let bound = bound_state(T0, "B1", T0 + 30_000);
    assert_eq!(
        store
            .swap_binding(&r.id, None, Some(bound.clone()), T0 + 1, IDLE)
            .unwrap(),
        Swapped::Done
    );
    store
        .update_data(
            &r.id,
            &DataOp::Set("k".into(), json!(1)),
            1024,
            T0 + 2,
            IDLE,
        )
        .unwrap();
    let offer = offer_state(T0 + 99);
    assert_eq!(
        store
            .swap_binding(&r.id, Some(&bound), Some(offer.clone()), T0 + 3, IDLE)
            .unwrap(),
        Swapped::Done
    );
    let record = live(store, &r.id, T0 + 4);
    assert_eq!(record.binding.as_deref(), Some(&*offer));
    assert_eq!(
        record.data.as_deref().and_then(|d| d.get("k")),
        Some(&json!(1))
    );
}

/// A session's authentication is stored with it; a sign-in's rekey sets it and replaces the
/// binding, a re-authentication's keeps the binding, a rotation keeps both.
pub fn authentication_and_binding_follow_rekeys(store: &dyn Store) {
    let (_, mut r) = fresh(Some("bob"), T0);
    let first = Authn::new(1, ["pwd"]).unwrap();
    r.auth = Some(first.clone());
    r.binding = Some(bound_state(T0, "B1", T0 + 30_000));
    store.insert(r.clone(), IDLE).unwrap();
    let read = |id: &SessionId, now| judged(store, id, now);
    assert_eq!(read(&r.id, T0 + 1).auth, Some(first.clone()));
    let rotated = rotate(store, &r.id, T0 + 2, None).expect("rekeyed");
    assert_eq!(rotated.auth, Some(first.clone()));
    assert_eq!(rotated.binding, r.binding);
    let login = |id: &SessionId, level: u8, binding: BindingChange, now: u64| {
        let change = Rekey {
            new_id: new_id(),
            alias_until: None,
            secure: true,
            login: Some(LoginChange {
                user: Arc::from("bob"),
                expected_user: Some(Arc::from("bob")),
                csrf: CsrfSecret::generate().unwrap(),
                deadline: now + ABSOLUTE,
                keep_data: true,
                user_agent: None,
                auth: Authn::new(level, ["pwd", "otp"]).unwrap(),
                binding,
            }),
        };
        store
            .rekey(id, &change, now, IDLE)
            .unwrap()
            .expect("rekeyed")
    };
    let stepped = login(&rotated.id, 2, BindingChange::Keep, T0 + 3);
    let stored = read(&stepped.id, T0 + 4);
    assert_eq!(
        stored.binding, r.binding,
        "re-authentication keeps the binding"
    );
    let auth = stored.authenticated().expect("authenticated");
    assert_eq!((auth.at, auth.level), (T0 + 3, 2));
    assert_eq!(auth.amr, vec!["pwd".to_owned(), "otp".to_owned()]);
    let offer = offer_state(T0 + 100);
    let signed_in = login(
        &stepped.id,
        1,
        BindingChange::Replace(Some(offer.clone())),
        T0 + 5,
    );
    assert_eq!(
        read(&signed_in.id, T0 + 6).binding.as_deref(),
        Some(&*offer)
    );
    let again = login(&signed_in.id, 1, BindingChange::Replace(None), T0 + 7);
    assert_eq!(
        read(&again.id, T0 + 8).binding,
        None,
        "a sign-in ends the binding"
    );
    // Listed with it.
    let listed = store.list_user("bob").unwrap();
    assert!(listed.iter().any(|l| l.id == again.id && l.auth.is_some()));
}
