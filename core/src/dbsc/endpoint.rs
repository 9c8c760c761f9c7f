//! The two DBSC endpoints, registration and refresh, as one function each: request headers in,
//! the whole response (status, headers, body) out. Every framework routes its two paths here.
//!
//! Rules (`docs/dbsc.md` §2.5, §2.6):
//! - Only the endpoints mint bound cookies, and only after a proof verified in the same request.
//! - Challenges are single use: a registration offer is spent by any attempt, good or bad; a
//!   refresh challenge by the proof that answers it. The current and the previous refresh
//!   challenge are accepted (a refresh may race a newer challenge), each once.
//! - Every change of the binding is one compare-and-swap of the session's binding state, so two
//!   racing refreshes cannot both use one challenge and a data write cannot undo either.
//! - A refresh reads the session without touching it: it is the browser's activity, not the
//!   user's, and must not defeat the idle timeout.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::binding::{Binding, BindingState, Slot, Swapped, challenge_digest, cookie_digest};
use crate::clock::UnixMillis;
use crate::config::Dbsc;
use crate::cookie::{self, CookieToken};
use crate::dbsc::key::PublicKey;
use crate::dbsc::proof::{self, MAX_PROOF_LEN};
use crate::dbsc::wire::{self, SessionConfig};
use crate::error::{Error, Result};
use crate::events::EventKind;
use crate::manager::{DbscMillis, SessionManager};
use crate::record::Record;
use crate::token::Token;

/// How many times an endpoint re-reads the session after losing a compare-and-swap.
const ATTEMPTS: usize = 4;

/// What the two endpoints read from a request.
#[derive(Clone, Copy, Debug, Default)]
pub struct DbscHead<'a> {
    /// The `Cookie` header.
    pub cookie_header: Option<&'a str>,
    /// Whether the request arrived over HTTPS (as the framework determines it).
    pub https: bool,
    /// The method.
    pub method: &'a str,
    /// This site's origin, `scheme://host[:port]`, for the config's `scope.origin` (the
    /// `dbsc_origin` option wins when set).
    pub origin: Option<&'a str>,
    /// `Sec-Secure-Session-Id` (refresh).
    pub session_id: Option<&'a str>,
    /// `Secure-Session-Response`: the proof.
    pub proof: Option<&'a str>,
}

/// A whole HTTP response for a framework to send as is.
#[derive(Clone, PartialEq, Eq)]
pub struct EndpointResponse {
    /// The status code.
    pub status: u16,
    /// Headers, in order (`Set-Cookie` may appear more than once).
    pub headers: Vec<(&'static str, String)>,
    /// The body (JSON, or empty).
    pub body: String,
}

impl fmt::Debug for EndpointResponse {
    // Set-Cookie lines carry bound cookies.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let headers: Vec<(&str, &str)> = self
            .headers
            .iter()
            .map(|(n, v)| (*n, if *n == "Set-Cookie" { "<redacted>" } else { v }))
            .collect();
        f.debug_struct("EndpointResponse")
            .field("status", &self.status)
            .field("headers", &headers)
            .field("body", &self.body)
            .finish()
    }
}

impl EndpointResponse {
    fn new(status: u16) -> Self {
        EndpointResponse {
            status,
            headers: vec![("Cache-Control", "no-store".to_owned())],
            body: String::new(),
        }
    }

    fn json(status: u16, body: String) -> Self {
        let mut r = EndpointResponse::new(status);
        r.headers
            .push(("Content-Type", "application/json".to_owned()));
        r.body = body;
        r
    }

    fn error(status: u16, code: &str) -> Self {
        EndpointResponse::json(status, format!("{{\"error\":\"{code}\"}}"))
    }

    fn header(mut self, name: &'static str, value: String) -> Self {
        self.headers.push((name, value));
        self
    }
}

/// The registration endpoint (`POST <dbsc_path_prefix>/register`).
///
/// # Errors
/// `invalid_config` if device-bound sessions are off; `store_unavailable` (answer 503).
pub fn register(manager: &SessionManager, head: &DbscHead<'_>) -> Result<EndpointResponse> {
    let (dbsc, ms) = settings(manager)?;
    // Before anything is written: a binding whose config cannot be sent would leave a browser
    // without its bound cookie.
    let origin = origin(dbsc, head)?;
    if let Some(refused) = refuse_transport(head) {
        return Ok(refused);
    }
    let Some(proof) = head.proof.filter(|p| p.len() <= MAX_PROOF_LEN) else {
        return Ok(EndpointResponse::error(400, "no_proof"));
    };
    let Some(token) = session_token(manager, head) else {
        return Ok(EndpointResponse::error(403, "no_session"));
    };
    let record = match manager.peek(token)? {
        Ok(record) if record.user.is_some() => record,
        _ => return Ok(EndpointResponse::error(403, "no_session")),
    };
    let offer = match record.binding.as_deref() {
        Some(BindingState::Bound(_)) => {
            return Ok(failed(manager, &record, 403, "already_bound", true));
        }
        Some(BindingState::Offered(slot)) => *slot,
        None => return Ok(failed(manager, &record, 403, "no_challenge", true)),
    };
    let now = manager.now();
    // Any attempt spends the offer, good or bad: one proof per challenge. Spent first, so two
    // racing attempts cannot both get past it.
    match manager.swap_binding(&record.id, record.binding.as_ref(), None)? {
        Swapped::Done => {}
        Swapped::Changed => return Ok(failed(manager, &record, 403, "no_challenge", true)),
        Swapped::Gone => return Ok(EndpointResponse::error(403, "no_session")),
    }
    let registration = match proof::verify_registration(proof, &dbsc.algorithms) {
        Ok(r) => r,
        Err(f) => return Ok(failed(manager, &record, 403, f.code(), true)),
    };
    match offer.matches(&challenge_digest(&registration.jti), now) {
        None => return Ok(failed(manager, &record, 403, "unknown_challenge", true)),
        Some(false) => return Ok(failed(manager, &record, 403, "challenge_expired", true)),
        Some(true) => {}
    }
    let mut id = [0u8; 16];
    crate::token::fill_random(&mut id)?;
    let (cookie, slot, max_age) = mint_cookie(&record, ms, now)?;
    let binding = Binding::new(
        id,
        registration.key.to_jwk_json().into(),
        registration.key.thumbprint(),
        now,
        slot,
    );
    let state = Arc::new(BindingState::Bound(binding.clone()));
    // The offer was spent above; the session must still have no binding.
    match manager.swap_binding(&record.id, None, Some(state))? {
        Swapped::Done => {}
        Swapped::Changed => return Ok(failed(manager, &record, 403, "no_challenge", true)),
        Swapped::Gone => return Ok(EndpointResponse::error(403, "no_session")),
    }
    manager.emit_detail(
        EventKind::Registered,
        &record,
        registration.key.alg().as_str(),
    );
    config_response(manager, dbsc, origin, &binding, &cookie, max_age)
}

/// The refresh endpoint (`POST <dbsc_path_prefix>/refresh`).
///
/// # Errors
/// `invalid_config` if device-bound sessions are off; `store_unavailable` (answer 503: the
/// browser keeps its DBSC session and tries again later).
pub fn refresh(manager: &SessionManager, head: &DbscHead<'_>) -> Result<EndpointResponse> {
    let (dbsc, ms) = settings(manager)?;
    let origin = origin(dbsc, head)?;
    if let Some(refused) = refuse_transport(head) {
        return Ok(refused);
    }
    // Without the header this is not the browser's DBSC machinery: no challenge, and no answer
    // that tells a cross-site fetch whether someone is signed in.
    let Some(bid) = head.session_id.and_then(wire::token_value) else {
        return Ok(EndpointResponse::error(400, "no_session_id"));
    };
    let end = || EndpointResponse::json(200, wire::end_session_json(bid));
    let Some(token) = session_token(manager, head) else {
        return Ok(end());
    };
    for _ in 0..ATTEMPTS {
        let record = match manager.peek(token)? {
            Ok(record) => record,
            // Ended, expired, revoked: the browser's DBSC session ends with it, and the dead
            // cookies go.
            Err(_) => {
                let config = manager.config();
                return Ok(end()
                    .header("Set-Cookie", cookie::clear_cookie(config))
                    .header("Set-Cookie", clear_bound(manager)));
            }
        };
        let binding = match record.binding.as_deref().and_then(BindingState::bound) {
            Some(b) if b.id_text() == bid => b.clone(),
            _ => {
                manager.emit_detail(EventKind::ProofFailed, &record, "not_bound");
                return Ok(end());
            }
        };
        let now = manager.now();
        let Some(proof) = head.proof.filter(|p| !p.is_empty()) else {
            if let Some(r) = challenge(manager, &record, &binding, ms, now)? {
                return Ok(r);
            }
            continue;
        };
        let key = PublicKey::from_jwk_json(&binding.jwk)
            .map_err(|_| Error::store_unavailable("a stored DBSC key is not readable"))?;
        let jti = match proof.len() <= MAX_PROOF_LEN {
            true => proof::verify_refresh(proof, &key),
            false => Err(proof::ProofFailure::Malformed),
        };
        let jti = match jti {
            Ok(jti) => jti,
            Err(f) => {
                // Signed by another key, or not a proof at all: the alarm case. The browser's
                // DBSC session ends; the Tessera session stays unless the app asked otherwise.
                manager.emit_detail(EventKind::ProofFailed, &record, f.code());
                if dbsc.revoke_on_bad_proof {
                    manager.revoke(&record.id)?;
                }
                return Ok(end());
            }
        };
        let digest = challenge_digest(&jti);
        let mut next = binding.clone();
        let verdict = [&mut next.challenge, &mut next.prev_challenge]
            .into_iter()
            .find_map(|slot| {
                let found = slot.as_ref()?.matches(&digest, now)?;
                // Single use: the challenge answered (or found spent) is gone either way.
                *slot = None;
                Some(found)
            });
        match verdict {
            Some(true) => {}
            // Expected from a genuine browser replaying a cached proof: a new challenge, not an
            // alarm.
            other => {
                let code = match other {
                    Some(_) => "challenge_expired",
                    None => "unknown_challenge",
                };
                manager.emit_detail(EventKind::ProofFailed, &record, code);
                if let Some(r) = challenge(manager, &record, &binding, ms, now)? {
                    return Ok(r);
                }
                continue;
            }
        }
        let (cookie, slot, max_age) = mint_cookie(&record, ms, now)?;
        next.prev_cookie = next.cookie;
        next.cookie = Some(slot);
        next.refreshed_at = now;
        let expected = record.binding.clone();
        let state = Arc::new(BindingState::Bound(next.clone()));
        match manager.swap_binding(&record.id, expected.as_ref(), Some(state))? {
            Swapped::Done => {
                manager.emit_detail(EventKind::Refreshed, &record, key.alg().as_str());
                return config_response(manager, dbsc, origin, &next, &cookie, max_age);
            }
            Swapped::Gone => continue,
            // Another refresh or challenge won: read again, and judge the proof against what
            // it left (its challenge is likely spent now).
            Swapped::Changed => continue,
        }
    }
    Err(Error::internal(
        "the session's binding kept changing during a refresh",
    ))
}

fn settings(manager: &SessionManager) -> Result<(&Dbsc, DbscMillis)> {
    match (&manager.config().dbsc, manager.dbsc_millis()) {
        (Some(d), Some(ms)) => Ok((d, ms)),
        _ => Err(Error::invalid_config(
            "device-bound sessions are off (set the dbsc option)",
        )),
    }
}

/// The origin the session config names: the `dbsc_origin` option, else the request's.
fn origin<'a>(dbsc: &'a Dbsc, head: &DbscHead<'a>) -> Result<&'a str> {
    dbsc.origin.as_deref().or(head.origin).ok_or_else(|| {
        Error::invalid_config("dbsc_origin is unset and the request's origin is unknown")
    })
}

fn refuse_transport(head: &DbscHead<'_>) -> Option<EndpointResponse> {
    if !head.https {
        return Some(EndpointResponse::error(400, "https_required"));
    }
    if head.method != "POST" {
        return Some(
            EndpointResponse::error(405, "method_not_allowed").header("Allow", "POST".into()),
        );
    }
    None
}

fn session_token<'h>(manager: &SessionManager, head: &DbscHead<'h>) -> Option<&'h str> {
    let header = head.cookie_header?;
    match cookie::find_session_cookie(header, &manager.config().cookie_name) {
        CookieToken::One(token) => Some(token),
        _ => None,
    }
}

/// A refused registration (or a refresh for a session that is not bound): the event, and the
/// answer with the code as its body.
fn failed(
    manager: &SessionManager,
    record: &Record,
    status: u16,
    code: &'static str,
    event: bool,
) -> EndpointResponse {
    if event {
        manager.emit_detail(EventKind::ProofFailed, record, code);
    }
    EndpointResponse::error(status, code)
}

/// Issue a new refresh challenge (the previous one stays acceptable once): a 403 carrying it,
/// or `None` if the binding changed meanwhile (the caller reads again).
fn challenge(
    manager: &SessionManager,
    record: &Record,
    binding: &Binding,
    ms: DbscMillis,
    now: UnixMillis,
) -> Result<Option<EndpointResponse>> {
    let value = Token::generate()?.expose();
    let mut next = binding.clone();
    next.prev_challenge = next.challenge;
    next.challenge = Some(Slot {
        hash: challenge_digest(&value),
        until: now.saturating_add(ms.challenge_ttl),
    });
    let state = Arc::new(BindingState::Bound(next));
    match manager.swap_binding(&record.id, record.binding.as_ref(), Some(state))? {
        Swapped::Done => {}
        Swapped::Changed | Swapped::Gone => return Ok(None),
    }
    let header = wire::challenge_header(&value, &binding.id_text())
        .map_err(|_| Error::internal("a challenge header could not be written"))?;
    Ok(Some(
        EndpointResponse::new(403).header("Secure-Session-Challenge", header),
    ))
}

/// A new bound cookie: its value, its slot, and the `Max-Age` it is sent with. It never
/// outlives the session's absolute deadline.
fn mint_cookie(
    record: &Record,
    ms: DbscMillis,
    now: UnixMillis,
) -> Result<(Token, Slot, Duration)> {
    let token = Token::generate()?;
    let until = now.saturating_add(ms.cookie_ttl).min(record.deadline);
    let slot = Slot {
        hash: cookie_digest(&token.expose()),
        until,
    };
    let secs = until.saturating_sub(now).div_ceil(1000).max(1);
    Ok((token, slot, Duration::from_secs(secs)))
}

fn clear_bound(manager: &SessionManager) -> String {
    let config = manager.config();
    cookie::clear_named_cookie(config, manager.bound_cookie_name())
}

/// 200 with the bound cookie and the full session config (so config changes reach the browser,
/// and it drops its cached challenge).
fn config_response(
    manager: &SessionManager,
    dbsc: &Dbsc,
    origin: &str,
    binding: &Binding,
    cookie: &Token,
    max_age: Duration,
) -> Result<EndpointResponse> {
    let config = manager.config();
    let name = manager.bound_cookie_name();
    let attributes = cookie::attributes(config);
    let refresh_url = format!("{}/refresh", dbsc.path_prefix);
    let id = binding.id_text();
    let body = wire::session_config_json(&SessionConfig {
        session_identifier: &id,
        refresh_url: &refresh_url,
        origin,
        include_site: dbsc.include_site,
        scope_rules: &[],
        cookie_name: name,
        cookie_attributes: &attributes,
        refresh_initiators: &[],
    });
    let set = cookie::set_named_cookie(config, name, cookie, Some(max_age));
    Ok(EndpointResponse::json(200, body)
        .header("Set-Cookie", set)
        .header("Cross-Origin-Resource-Policy", "same-origin".into()))
}
