//! A session's device binding (DBSC) as stored, and the verdict it gives one request.
//!
//! A bound session is authenticated on a request only if that request also carries a current
//! bound cookie (`docs/dbsc.md` §2.4). The verdict is judged here, once, and every store applies
//! it *before* touching the record, so a request that fails it (a thief holding only the
//! long-lived cookie) neither keeps the session alive nor rotates it away from its owner.
//!
//! Bound cookies, challenges and offers are kept as BLAKE3 digests, like session ids: a dump of
//! the store yields none of them.

use std::fmt;
use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use once_cell::sync::Lazy;
use serde::{Deserialize, Serialize};

use crate::clock::UnixMillis;
use crate::error::{Error, Result};
use crate::fields::Fields;

static COOKIE_KEY: Lazy<blake3::Hasher> =
    Lazy::new(|| blake3::Hasher::new_derive_key("tessera 2026-12 dbsc bound cookie v1"));
static CHALLENGE_KEY: Lazy<blake3::Hasher> =
    Lazy::new(|| blake3::Hasher::new_derive_key("tessera 2026-12 dbsc challenge v1"));

/// The digest a bound cookie's value is stored and compared as. The value is hashed as it
/// travels (its base64url text): decoding it first would cost as much again and add nothing.
pub fn cookie_digest(value: &str) -> [u8; 32] {
    let mut h = COOKIE_KEY.clone();
    h.update(value.as_bytes());
    *h.finalize().as_bytes()
}

/// The digest a challenge (registration offer or refresh challenge) is stored as.
pub fn challenge_digest(value: &str) -> [u8; 32] {
    let mut h = CHALLENGE_KEY.clone();
    h.update(value.as_bytes());
    *h.finalize().as_bytes()
}

/// Constant-time equality of two digests (`blake3::Hash`'s `==` is).
fn same(a: &[u8; 32], b: &[u8; 32]) -> bool {
    blake3::Hash::from_bytes(*a) == blake3::Hash::from_bytes(*b)
}

/// One stored secret: its digest and until when it is good (exclusive).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Slot {
    /// [`cookie_digest`] or [`challenge_digest`] of the value.
    pub hash: [u8; 32],
    /// The first instant it is no longer accepted.
    pub until: UnixMillis,
}

impl Slot {
    /// Whether `hash` is this slot's and it is still good at `now`: `Some(true)` good,
    /// `Some(false)` this slot's but spent, `None` another value.
    pub fn matches(&self, hash: &[u8; 32], now: UnixMillis) -> Option<bool> {
        same(&self.hash, hash).then_some(now < self.until)
    }
}

impl fmt::Debug for Slot {
    // Digests are not secrets, but they are noise in logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Slot")
            .field("until", &self.until)
            .finish_non_exhaustive()
    }
}

/// A device binding: the browser's public key and the short-lived state of its bound cookie.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Binding {
    /// The DBSC `session_identifier` (random, stable across token rotations).
    pub id: [u8; 16],
    /// The browser's public key as canonical JWK text; its algorithm is pinned by its kind.
    pub jwk: Arc<str>,
    /// The key's RFC 7638 thumbprint, for listings and events.
    pub jkt: [u8; 32],
    /// When it was registered.
    pub bound_at: UnixMillis,
    /// When a proof last minted a bound cookie.
    pub refreshed_at: UnixMillis,
    /// The current bound cookie.
    pub cookie: Option<Slot>,
    /// The one it replaced, until its own expiry (requests in flight during a refresh).
    pub prev_cookie: Option<Slot>,
    /// The current refresh challenge.
    pub challenge: Option<Slot>,
    /// The one before it, accepted once while it lasts (refreshes race with new challenges).
    pub prev_challenge: Option<Slot>,
}

impl Binding {
    /// A binding registered now with `cookie` as its first bound cookie.
    pub fn new(id: [u8; 16], jwk: Arc<str>, jkt: [u8; 32], now: UnixMillis, cookie: Slot) -> Self {
        Binding {
            id,
            jwk,
            jkt,
            bound_at: now,
            refreshed_at: now,
            cookie: Some(cookie),
            prev_cookie: None,
            challenge: None,
            prev_challenge: None,
        }
    }

    /// The `session_identifier` as it travels (base64url, 22 characters).
    pub fn id_text(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.id)
    }

    /// The key's thumbprint as it appears in events and listings (base64url).
    pub fn jkt_text(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.jkt)
    }
}

/// What a session's record says about device binding.
// Always behind an `Arc` in a record, so the variants' sizes cost nothing per session.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BindingState {
    /// Registration was offered with this challenge and not yet used.
    Offered(Slot),
    /// The session is bound.
    Bound(Binding),
}

impl BindingState {
    /// The binding, if bound.
    pub fn bound(&self) -> Option<&Binding> {
        match self {
            BindingState::Bound(b) => Some(b),
            BindingState::Offered(_) => None,
        }
    }
}

/// The longest bound cookie value Tessera ever issues (a token: 43 base64url characters), with
/// room to spare. A longer value cannot be one of ours.
const MAX_BOUND_VALUE: usize = 48;

/// One bound cookie value as the request carried it, kept inline (no allocation per request).
/// Its digest is computed only where it is compared, after the binding's state has been asked
/// for: the hashing then overlaps the memory access that state costs.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct BoundValue {
    len: u8,
    bytes: [u8; MAX_BOUND_VALUE],
}

impl BoundValue {
    fn new(value: &str) -> Option<BoundValue> {
        let len = value.len();
        (len <= MAX_BOUND_VALUE).then(|| {
            let mut bytes = [0; MAX_BOUND_VALUE];
            bytes[..len].copy_from_slice(value.as_bytes());
            BoundValue {
                len: len as u8,
                bytes,
            }
        })
    }

    fn digest(&self) -> [u8; 32] {
        let mut h = COOKIE_KEY.clone();
        h.update(&self.bytes[..usize::from(self.len)]);
        *h.finalize().as_bytes()
    }
}

impl fmt::Debug for BoundValue {
    // A bound cookie is a credential: never printed.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BoundValue(<redacted>)")
    }
}

/// The bound cookies a request carries.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Presented {
    /// None.
    #[default]
    Absent,
    /// Exactly one.
    One(BoundValue),
    /// One that cannot be a bound cookie Tessera issued (too long).
    Foreign,
    /// More than one of that name: which one the browser meant cannot be known.
    Ambiguous,
}

impl Presented {
    /// From the values of the bound cookie found in a `Cookie` header.
    pub fn from_values<'a>(mut values: impl Iterator<Item = &'a str>) -> Presented {
        match (values.next(), values.next()) {
            (None, _) => Presented::Absent,
            (Some(v), None) => BoundValue::new(v).map_or(Presented::Foreign, Presented::One),
            (Some(_), Some(_)) => Presented::Ambiguous,
        }
    }
}

/// How a store reads a session for a request: what the request proves about its device, and
/// whether the read may touch the record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Gate {
    /// The bound cookie(s) the request carries.
    pub presented: Presented,
    /// How long after registration a request without a bound cookie is still let through (the
    /// browser may not have stored the first one yet).
    pub grace_ms: u64,
    /// Whether a live, admitted record's `last_seen` moves to now (a DBSC refresh reads
    /// without touching: it is the browser's activity, not the user's).
    pub touch: bool,
    /// Which of the record's larger parts the read copies out (the rest come back empty).
    pub fields: Fields,
}

impl Gate {
    /// A request that carries no bound cookie, touching as a request does.
    pub const NONE: Gate = Gate {
        presented: Presented::Absent,
        grace_ms: 0,
        touch: true,
        fields: Fields::ALL,
    };

    /// For a caller that names the session by id rather than by a request's token (an
    /// administrator, a step of a request already judged): bindings are not judged.
    pub const JUDGED: Gate = Gate {
        presented: Presented::Absent,
        grace_ms: u64::MAX,
        touch: true,
        fields: Fields::ALL,
    };

    /// The verdict for a record whose binding state is `state`, at `now`.
    ///
    /// # Errors
    /// Why a bound session is not proven by this request.
    #[inline]
    pub fn admit(&self, state: Option<&BindingState>, now: UnixMillis) -> Result<Proof, Missing> {
        match state {
            Some(BindingState::Bound(b)) => self.admit_bound(b, now),
            _ => Ok(Proof::Unbound),
        }
    }

    fn admit_bound(&self, b: &Binding, now: UnixMillis) -> Result<Proof, Missing> {
        if now < b.bound_at.saturating_add(self.grace_ms) {
            return Ok(Proof::Pending);
        }
        let value = match &self.presented {
            Presented::Absent => return Err(Missing::Absent),
            Presented::Ambiguous => return Err(Missing::Ambiguous),
            Presented::Foreign => return Err(Missing::Mismatch),
            Presented::One(v) => v,
        };
        // The slots are read first: their load is under way while the digest is computed.
        let slots = [b.cookie, b.prev_cookie];
        let hash = value.digest();
        match slots.iter().flatten().find_map(|s| s.matches(&hash, now)) {
            Some(true) => Ok(Proof::Fresh),
            Some(false) => Err(Missing::Expired),
            None => Err(Missing::Mismatch),
        }
    }

    /// The proof of a record this gate already admitted (a store answered it live), without
    /// judging the cookie again.
    #[inline]
    pub fn proof_of_admitted(&self, state: Option<&BindingState>, now: UnixMillis) -> Proof {
        match state {
            Some(BindingState::Bound(b)) if now < b.bound_at.saturating_add(self.grace_ms) => {
                Proof::Pending
            }
            Some(BindingState::Bound(_)) => Proof::Fresh,
            _ => Proof::Unbound,
        }
    }
}

/// How a request that may use its session stands with respect to device binding.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Proof {
    /// The session is not bound.
    Unbound,
    /// Bound moments ago; the browser may not hold its bound cookie yet.
    Pending,
    /// Bound, and the request carries a current bound cookie.
    Fresh,
}

impl Proof {
    /// The stable lowercase name, the same in every binding.
    pub const fn code(self) -> &'static str {
        match self {
            Proof::Unbound => "unbound",
            Proof::Pending => "pending",
            Proof::Fresh => "fresh",
        }
    }
}

/// Why a bound session's request is not proven: the session is hidden from it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Missing {
    /// No bound cookie.
    Absent,
    /// The bound cookie was this session's, but its time is over.
    Expired,
    /// A bound cookie this session never issued.
    Mismatch,
    /// Several bound cookies.
    Ambiguous,
}

impl Missing {
    /// The stable lowercase name (the `binding_missing` event's detail).
    pub const fn code(self) -> &'static str {
        match self {
            Missing::Absent => "absent",
            Missing::Expired => "expired",
            Missing::Mismatch => "mismatch",
            Missing::Ambiguous => "ambiguous",
        }
    }
}

// ---- storage encoding, shared by the networked stores ----

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct SlotText {
    h: String,
    u: UnixMillis,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct BindingText {
    id: String,
    jwk: String,
    jkt: String,
    at: UnixMillis,
    rf: UnixMillis,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    c: Option<SlotText>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    cp: Option<SlotText>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    ch: Option<SlotText>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    chp: Option<SlotText>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
enum StateText {
    #[serde(rename = "offer")]
    Offered(SlotText),
    #[serde(rename = "bound")]
    Bound(BindingText),
}

fn slot_text(s: &Slot) -> SlotText {
    SlotText {
        h: URL_SAFE_NO_PAD.encode(s.hash),
        u: s.until,
    }
}

fn bytes<const N: usize>(text: &str) -> Result<[u8; N]> {
    URL_SAFE_NO_PAD
        .decode(text)
        .ok()
        .and_then(|v| <[u8; N]>::try_from(v).ok())
        .ok_or_else(|| Error::store_unavailable("a stored binding holds a malformed digest"))
}

fn slot_from(t: SlotText) -> Result<Slot> {
    Ok(Slot {
        hash: bytes(&t.h)?,
        until: t.u,
    })
}

impl BindingState {
    /// The text a networked store keeps (JSON, one field or column; never the session's data).
    pub fn to_stored(&self) -> String {
        let text = match self {
            BindingState::Offered(s) => StateText::Offered(slot_text(s)),
            BindingState::Bound(b) => StateText::Bound(BindingText {
                id: URL_SAFE_NO_PAD.encode(b.id),
                jwk: b.jwk.to_string(),
                jkt: URL_SAFE_NO_PAD.encode(b.jkt),
                at: b.bound_at,
                rf: b.refreshed_at,
                c: b.cookie.as_ref().map(slot_text),
                cp: b.prev_cookie.as_ref().map(slot_text),
                ch: b.challenge.as_ref().map(slot_text),
                chp: b.prev_challenge.as_ref().map(slot_text),
            }),
        };
        serde_json::to_string(&text).expect("the binding's JSON has no map keys to fail on")
    }

    /// Read what [`to_stored`](Self::to_stored) wrote.
    ///
    /// # Errors
    /// `store_unavailable` for text no Tessera wrote: a session whose binding cannot be read is
    /// not served (fail closed).
    pub fn from_stored(text: &str) -> Result<BindingState> {
        let parsed: StateText = serde_json::from_str(text)
            .map_err(|_| Error::store_unavailable("a stored binding is not readable"))?;
        Ok(match parsed {
            StateText::Offered(s) => BindingState::Offered(slot_from(s)?),
            StateText::Bound(b) => BindingState::Bound(Binding {
                id: bytes(&b.id)?,
                jwk: b.jwk.into(),
                jkt: bytes(&b.jkt)?,
                bound_at: b.at,
                refreshed_at: b.rf,
                cookie: b.c.map(slot_from).transpose()?,
                prev_cookie: b.cp.map(slot_from).transpose()?,
                challenge: b.ch.map(slot_from).transpose()?,
                prev_challenge: b.chp.map(slot_from).transpose()?,
            }),
        })
    }
}

/// The answer of [`Store::swap_binding`](crate::store::Store::swap_binding).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Swapped {
    /// The binding state was replaced.
    Done,
    /// The session's binding state was not the one expected (a concurrent registration or
    /// refresh won); nothing was written.
    Changed,
    /// No live session is primary under that id.
    Gone,
}

/// `Option<&Arc<BindingState>>` by value, which is what a compare-and-swap compares.
pub fn same_state(a: Option<&Arc<BindingState>>, b: Option<&Arc<BindingState>>) -> bool {
    a.map(|s| &**s) == b.map(|s| &**s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slot(v: &str, until: UnixMillis) -> Slot {
        Slot {
            hash: cookie_digest(v),
            until,
        }
    }

    fn bound(now: UnixMillis) -> Binding {
        Binding::new([7; 16], "{}".into(), [1; 32], now, slot("B1", now + 600))
    }

    fn gate(p: Presented) -> Gate {
        Gate {
            presented: p,
            grace_ms: 10,
            touch: true,
            fields: Fields::ALL,
        }
    }

    #[test]
    fn an_unbound_or_offered_session_needs_no_cookie() {
        assert_eq!(gate(Presented::Absent).admit(None, 5), Ok(Proof::Unbound));
        let offered = BindingState::Offered(slot("C0", 100));
        assert_eq!(
            gate(Presented::Absent).admit(Some(&offered), 5),
            Ok(Proof::Unbound)
        );
    }

    #[test]
    fn a_bound_session_needs_its_current_or_previous_cookie_in_time() {
        let mut b = bound(1000);
        let s = BindingState::Bound(b.clone());
        // Within the grace after registration, anything goes.
        assert_eq!(
            gate(Presented::Absent).admit(Some(&s), 1009),
            Ok(Proof::Pending)
        );
        assert_eq!(
            gate(Presented::Absent).admit(Some(&s), 1010),
            Err(Missing::Absent)
        );
        let b1 = Presented::from_values(["B1"].into_iter());
        assert_eq!(gate(b1).admit(Some(&s), 1599), Ok(Proof::Fresh));
        assert_eq!(gate(b1).admit(Some(&s), 1600), Err(Missing::Expired));
        let other = Presented::from_values(["B2"].into_iter());
        assert_eq!(gate(other).admit(Some(&s), 1100), Err(Missing::Mismatch));
        let two = Presented::from_values(["B1", "B1"].into_iter());
        assert_eq!(gate(two).admit(Some(&s), 1100), Err(Missing::Ambiguous));
        // After a refresh the previous cookie lasts until its own expiry, never longer.
        b.prev_cookie = b.cookie;
        b.cookie = Some(slot("B2", 2200));
        let s = BindingState::Bound(b);
        assert_eq!(gate(b1).admit(Some(&s), 1599), Ok(Proof::Fresh));
        assert_eq!(gate(b1).admit(Some(&s), 1600), Err(Missing::Expired));
        assert_eq!(gate(other).admit(Some(&s), 2199), Ok(Proof::Fresh));
    }

    #[test]
    fn the_stored_text_round_trips_and_junk_is_refused() {
        let mut b = bound(1000);
        b.challenge = Some(Slot {
            hash: challenge_digest("C1"),
            until: 1060,
        });
        for s in [
            BindingState::Bound(b),
            BindingState::Offered(slot("C0", 99)),
        ] {
            let text = s.to_stored();
            assert!(!text.contains("B1") && !text.contains("C1"));
            assert_eq!(BindingState::from_stored(&text).unwrap(), s);
        }
        for junk in ["", "{}", r#"{"offer":{"h":"AA","u":1}}"#, r#"{"x":1}"#] {
            assert!(BindingState::from_stored(junk).is_err(), "{junk}");
        }
    }

    #[test]
    fn digests_differ_by_purpose() {
        assert_ne!(cookie_digest("x"), challenge_digest("x"));
    }
}
