//! The per-request protocol (`tessera::http`) beyond what the HTTP corpus can express: the
//! headers `prepare` promises are the ones `finish` delivers, ids known before anything is
//! stored, and the no-resurrection rule under a racing logout.

use std::time::Duration;

use serde_json::{Value, json};
use tessera::http::{self, Auth, CsrfCheck, Expiry, Outcome, RequestHead, Response};
use tessera::{Config, ManualClock, SessionManager};

fn manager() -> (SessionManager, ManualClock) {
    let clock = ManualClock::default();
    let m = SessionManager::builder(Config::default())
        .clock(clock.clone())
        .sweep_interval(None)
        .build()
        .unwrap();
    (m, clock)
}

fn data(v: Value) -> Option<tessera::Data> {
    match v {
        Value::Object(m) => Some(m),
        _ => None,
    }
}

/// The `name=value` part of a Set-Cookie line, for the next request's Cookie header.
fn pair(r: &Response) -> String {
    r.set_cookie
        .as_deref()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned()
}

fn head<'a>(method: &'a str, cookie: Option<&'a str>) -> RequestHead<'a> {
    RequestHead {
        cookie_header: cookie,
        https: true,
        method,
        ..RequestHead::default()
    }
}

/// A request without a cookie, finished with `outcome`: how most tests make their session.
fn fresh(m: &SessionManager, outcome: Outcome) -> Response {
    http::begin(m, &head("POST", None))
        .unwrap()
        .finish(m, outcome)
        .unwrap()
}

#[test]
fn a_cookieless_read_stores_nothing_and_sends_nothing() {
    let (m, _) = manager();
    let r = http::begin(&m, &head("GET", None)).unwrap();
    assert!(r.session().is_none() && r.reason().is_none());
    let out = r
        .finish(
            &m,
            Outcome {
                data: data(json!({})),
                ..Outcome::default()
            },
        )
        .unwrap();
    assert_eq!(out.set_cookie, None);
    assert!(!out.no_store);
    assert_eq!(m.store_len().unwrap(), 0);
}

#[test]
fn prepared_headers_are_the_ones_finish_delivers() {
    let (m, _) = manager();
    let outcomes = [
        Outcome {
            data: data(json!({"a": 1})),
            ..Outcome::default()
        },
        Outcome {
            auth: Auth::LoggedIn("alice".into()),
            ..Outcome::default()
        },
    ];
    for outcome in outcomes {
        let mut r = http::begin(&m, &head("POST", None)).unwrap();
        let promised = r.prepare(&m, &outcome).unwrap();
        let delivered = r.finish(&m, outcome).unwrap();
        assert_eq!(promised.set_cookie, delivered.set_cookie);
        assert!(delivered.set_cookie.is_some());
    }
}

#[test]
fn a_new_session_has_its_id_before_anything_is_stored() {
    let (m, _) = manager();
    let mut r = http::begin(&m, &head("GET", None)).unwrap();
    let id = r.ensure_id(&m).unwrap();
    assert_eq!(m.store_len().unwrap(), 0);
    let out = r
        .finish(
            &m,
            Outcome {
                data: data(json!({"k": "v"})),
                ..Outcome::default()
            },
        )
        .unwrap();
    assert_eq!(out.session_id, Some(id));
    assert_eq!(m.id_of(pair(&out).split_once('=').unwrap().1).unwrap(), id);
}

#[test]
fn a_write_racing_a_logout_does_not_resurrect_the_session() {
    let (m, _) = manager();
    let created = fresh(
        &m,
        Outcome {
            auth: Auth::LoggedIn("alice".into()),
            ..Outcome::default()
        },
    );
    let cookie = pair(&created);
    // Request A has loaded the session when request B logs it out.
    let a = http::begin(&m, &head("POST", Some(&cookie))).unwrap();
    let b = http::begin(&m, &head("POST", Some(&cookie))).unwrap();
    let out_b = b
        .finish(
            &m,
            Outcome {
                auth: Auth::LoggedOut,
                ..Outcome::default()
            },
        )
        .unwrap();
    assert!(out_b.set_cookie.unwrap().contains("Max-Age=0"));
    let out_a = a
        .finish(
            &m,
            Outcome {
                data: data(json!({"cart": [1]})),
                ..Outcome::default()
            },
        )
        .unwrap();
    assert!(out_a.ended);
    assert!(out_a.set_cookie.unwrap().contains("Max-Age=0"));
    assert_eq!(m.store_len().unwrap(), 0);
}

#[test]
fn an_error_response_still_delivers_a_rotation_but_writes_nothing() {
    let (m, clock) = manager();
    let created = fresh(
        &m,
        Outcome {
            data: data(json!({"n": 1})),
            ..Outcome::default()
        },
    );
    clock.advance(Duration::from_secs(15 * 60));
    let cookie = pair(&created);
    let r = http::begin(&m, &head("POST", Some(&cookie))).unwrap();
    let out = r
        .finish(
            &m,
            Outcome {
                data: data(json!({"n": 2})),
                auth: Auth::LoggedIn("mallory".into()),
                error: true,
                ..Outcome::default()
            },
        )
        .unwrap();
    let rotated = pair(&out);
    assert_ne!(rotated, cookie);
    let next = http::begin(&m, &head("GET", Some(&rotated))).unwrap();
    assert_eq!(next.data().get("n"), Some(&json!(1)));
    assert_eq!(next.user(), None);
}

#[test]
fn csrf_is_checked_for_unsafe_methods_only() {
    let (m, _) = manager();
    let signed_in = fresh(
        &m,
        Outcome {
            auth: Auth::LoggedIn("alice".into()),
            ..Outcome::default()
        },
    );
    let cookie = pair(&signed_in);
    let mut page = http::begin(&m, &head("GET", Some(&cookie))).unwrap();
    let token = page.csrf_token(&m).unwrap();
    let with = |method: &str, candidate: Option<&str>| {
        let h = RequestHead {
            csrf_candidate: candidate,
            ..head(method, Some(&cookie))
        };
        http::begin(&m, &h).unwrap().csrf()
    };
    assert_eq!(with("GET", None), CsrfCheck::NotNeeded);
    assert_eq!(with("POST", None), CsrfCheck::Invalid);
    assert_eq!(with("DELETE", Some("x")), CsrfCheck::Invalid);
    assert_eq!(with("POST", Some(&token)), CsrfCheck::Valid);
}

/// The visitor cookie's `name=value`.
fn visitor_pair(r: &Response) -> String {
    let line = r.csrf_cookie.as_deref().expect("a visitor CSRF cookie");
    line.split(';').next().unwrap().to_owned()
}

#[test]
fn a_visitor_gets_a_working_csrf_token_and_the_store_gets_nothing() {
    let (m, _) = manager();
    let mut page = http::begin(&m, &head("GET", None)).unwrap();
    let token = page.csrf_token(&m).unwrap();
    let out = page.finish(&m, Outcome::default()).unwrap();
    assert!(out.set_cookie.is_none() && out.no_store);
    let line = out.csrf_cookie.clone().unwrap();
    assert!(line.starts_with("__Host-session-csrf=") && line.contains("; Secure; HttpOnly"));
    assert_eq!(m.store_len().unwrap(), 0);

    let visitor = visitor_pair(&out);
    let post = |cookie: Option<&str>, candidate: &str| {
        let h = RequestHead {
            csrf_candidate: Some(candidate),
            ..head("POST", cookie)
        };
        http::begin(&m, &h).unwrap().csrf()
    };
    assert_eq!(post(Some(&visitor), &token), CsrfCheck::Valid);
    assert_eq!(post(None, &token), CsrfCheck::Invalid);
    let other = {
        let mut r = http::begin(&m, &head("GET", None)).unwrap();
        r.csrf_token(&m).unwrap();
        visitor_pair(&r.finish(&m, Outcome::default()).unwrap())
    };
    assert_eq!(post(Some(&other), &token), CsrfCheck::Invalid);
    assert_eq!(m.store_len().unwrap(), 0);
}

#[test]
fn a_visitor_token_works_for_an_anonymous_session_and_never_after_login() {
    let (m, _) = manager();
    let mut page = http::begin(&m, &head("GET", None)).unwrap();
    let token = page.csrf_token(&m).unwrap();
    // The same page also stores something: an anonymous session.
    let out = page
        .finish(
            &m,
            Outcome {
                data: data(json!({"cart": [1]})),
                ..Outcome::default()
            },
        )
        .unwrap();
    let cookies = format!("{}; {}", pair(&out), visitor_pair(&out));
    let post = |cookies: &str| {
        let h = RequestHead {
            csrf_candidate: Some(&token),
            ..head("POST", Some(cookies))
        };
        http::begin(&m, &h).unwrap()
    };
    let form = post(&cookies);
    assert_eq!(form.csrf(), CsrfCheck::Valid);
    let login = form
        .finish(
            &m,
            Outcome {
                auth: Auth::LoggedIn("alice".into()),
                ..Outcome::default()
            },
        )
        .unwrap();
    let signed_in = format!("{}; {}", pair(&login), visitor_pair(&out));
    assert_eq!(post(&signed_in).csrf(), CsrfCheck::Invalid);
}

#[test]
fn a_per_session_expiry_shortens_and_never_lengthens() {
    let (m, clock) = manager();
    let out = fresh(
        &m,
        Outcome {
            data: data(json!({"a": 1})),
            expiry: Some(Expiry::Idle(Duration::from_secs(300))),
            expiry_changed: true,
            ..Outcome::default()
        },
    );
    let cookie = pair(&out);
    clock.advance(Duration::from_secs(299));
    assert!(
        http::begin(&m, &head("GET", Some(&cookie)))
            .unwrap()
            .session()
            .is_some()
    );
    clock.advance(Duration::from_secs(300));
    assert!(
        http::begin(&m, &head("GET", Some(&cookie)))
            .unwrap()
            .session()
            .is_none()
    );

    // Thirty days asked for: the configured 30-minute idle timeout still applies.
    let out = fresh(
        &m,
        Outcome {
            data: data(json!({"a": 1})),
            expiry: Some(Expiry::Idle(Duration::from_secs(30 * 86_400))),
            expiry_changed: true,
            ..Outcome::default()
        },
    );
    let cookie = pair(&out);
    clock.advance(Duration::from_secs(31 * 60));
    assert!(
        http::begin(&m, &head("GET", Some(&cookie)))
            .unwrap()
            .session()
            .is_none()
    );
}

#[test]
fn a_persistent_cookie_never_outlives_the_session() {
    let (m, _) = manager();
    let out = fresh(
        &m,
        Outcome {
            data: data(json!({"a": 1})),
            expiry: Some(Expiry::Persistent(Some(Duration::from_secs(31 * 86_400)))),
            expiry_changed: true,
            ..Outcome::default()
        },
    );
    assert!(out.set_cookie.unwrap().contains("Max-Age=43200;"));
}

#[test]
fn after_an_eager_logout_the_frameworks_data_starts_a_new_anonymous_session() {
    let (m, _) = manager();
    let created = fresh(
        &m,
        Outcome {
            data: data(json!({"cart": [1], "theme": "dark"})),
            auth: Auth::LoggedIn("alice".into()),
            ..Outcome::default()
        },
    );
    let cookie = pair(&created);
    let mut r = http::begin(&m, &head("POST", Some(&cookie))).unwrap();
    assert!(r.logout(&m).unwrap());
    // The framework emptied its session at logout (Django's flush), then flashed a message;
    // it still reports the user it began with, which is stale and no sign-in.
    let out = r
        .finish(
            &m,
            Outcome {
                data: data(json!({"flash": "bye"})),
                auth: Auth::User(Some("alice".into())),
                ..Outcome::default()
            },
        )
        .unwrap();
    let fresh = pair(&out);
    assert_ne!(fresh, cookie);
    let next = http::begin(&m, &head("GET", Some(&fresh))).unwrap();
    assert_eq!(next.user(), None);
    assert_eq!(Value::Object(next.data().clone()), json!({"flash": "bye"}));
    let replay = http::begin(&m, &head("GET", Some(&cookie))).unwrap();
    assert!(replay.session().is_none());
}

#[test]
fn a_session_revoked_under_the_request_is_not_signed_in_again_by_stale_data() {
    let (m, _) = manager();
    let created = fresh(
        &m,
        Outcome {
            auth: Auth::LoggedIn("alice".into()),
            ..Outcome::default()
        },
    );
    let cookie = pair(&created);
    let mut r = http::begin(&m, &head("POST", Some(&cookie))).unwrap();
    assert_eq!(m.revoke_user("alice").unwrap(), 1);
    assert!(!r.regenerate(&m).unwrap());
    let out = r
        .finish(
            &m,
            Outcome {
                data: data(json!({"_auth_user_id": "alice"})),
                auth: Auth::User(Some("alice".into())),
                ..Outcome::default()
            },
        )
        .unwrap();
    assert!(out.ended && out.token.is_none() && out.user.is_none());
    assert!(out.set_cookie.unwrap().contains("Max-Age=0"));
    assert_eq!(m.store_len().unwrap(), 0);
}

#[test]
fn create_stores_an_empty_session_and_the_response_names_its_token() {
    let (m, _) = manager();
    let mut r = http::begin(&m, &head("GET", None)).unwrap();
    r.create(&m).unwrap();
    assert_eq!(m.store_len().unwrap(), 1);
    let out = r.finish(&m, Outcome::default()).unwrap();
    let token = out.token.clone().unwrap().expose();
    assert_eq!(pair(&out), format!("__Host-session={token}"));
    assert_eq!(out.session_id, Some(m.id_of(&token).unwrap()));
}

#[test]
fn prepare_and_finish_agree_on_a_regenerate_without_a_session() {
    let (m, _) = manager();
    let outcome = Outcome {
        data: data(json!({"a": 1})),
        regenerate: true,
        ..Outcome::default()
    };
    let mut r = http::begin(&m, &head("POST", None)).unwrap();
    let promised = r.prepare(&m, &outcome).unwrap();
    let delivered = r.finish(&m, outcome).unwrap();
    assert!(promised.set_cookie.is_some());
    assert_eq!(promised.set_cookie, delivered.set_cookie);
}

/// Every combination of starting state and outcome: the headers `prepare` promises are exactly
/// the ones `finish` delivers (when nothing else happens in between).
#[test]
fn prepare_and_finish_agree_on_every_outcome() {
    let (m, _) = manager();
    let start = |kind: usize| -> Option<String> {
        let r = http::begin(&m, &head("POST", None)).unwrap();
        let auth = match kind {
            1 => Auth::Unchanged,
            2 => Auth::LoggedIn("alice".into()),
            _ => return None,
        };
        let out = r
            .finish(
                &m,
                Outcome {
                    data: data(json!({"k": 1})),
                    auth,
                    ..Outcome::default()
                },
            )
            .unwrap();
        Some(pair(&out))
    };
    let auths = [
        Auth::Unchanged,
        Auth::User(None),
        Auth::User(Some("alice".into())),
        Auth::User(Some("bob".into())),
        Auth::LoggedIn("alice".into()),
        Auth::LoggedOut,
    ];
    let datas = [
        None,
        data(json!({"k": 1})),
        data(json!({"k": 2})),
        data(json!({})),
    ];
    let mut checked = 0;
    for kind in 0..4 {
        for auth in &auths {
            for d in &datas {
                for flags in 0..8 {
                    let cookie = match kind {
                        3 => Some(
                            "__Host-session=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA".into(),
                        ),
                        k => start(k),
                    };
                    let outcome = Outcome {
                        data: d.clone(),
                        auth: auth.clone(),
                        regenerate: flags & 1 != 0,
                        error: flags & 2 != 0,
                        expiry: (flags & 4 != 0)
                            .then_some(Expiry::Persistent(Some(Duration::from_secs(60)))),
                        expiry_changed: flags & 4 != 0,
                        ..Outcome::default()
                    };
                    let mut r = http::begin(&m, &head("POST", cookie.as_deref())).unwrap();
                    let promised = r.prepare(&m, &outcome).unwrap();
                    let delivered = r.finish(&m, outcome.clone()).unwrap();
                    assert_eq!(
                        promised.set_cookie.is_some(),
                        delivered.set_cookie.is_some(),
                        "{kind} {outcome:?}"
                    );
                    assert_eq!(
                        promised.set_cookie, delivered.set_cookie,
                        "{kind} {outcome:?}"
                    );
                    assert_eq!(promised.no_store, delivered.no_store, "{kind} {outcome:?}");
                    checked += 1;
                }
            }
        }
    }
    assert_eq!(checked, 4 * 6 * 4 * 8);
}

#[test]
fn a_failed_finish_still_hands_out_the_rotated_token() {
    let clock = ManualClock::default();
    let config = Config {
        max_data_bytes: 64,
        ..Config::default()
    };
    let m = SessionManager::builder(config)
        .clock(clock.clone())
        .sweep_interval(None)
        .build()
        .unwrap();
    let created = fresh(
        &m,
        Outcome {
            data: data(json!({"a": "small"})),
            ..Outcome::default()
        },
    );
    clock.advance(Duration::from_secs(15 * 60));
    let r = http::begin(&m, &head("POST", Some(&pair(&created)))).unwrap();
    let failed = r
        .finish(
            &m,
            Outcome {
                data: data(json!({"a": "x".repeat(100)})),
                ..Outcome::default()
            },
        )
        .unwrap_err();
    assert_eq!(failed.error().code(), "data_too_large");
    let rotated = pair(failed.response());
    assert!(failed.response().no_store);
    clock.advance(Duration::from_secs(60));
    let next = http::begin(&m, &head("GET", Some(&rotated))).unwrap();
    assert_eq!(next.data().get("a"), Some(&json!("small")));
}

#[test]
fn the_next_token_is_the_one_a_login_or_key_cycle_hands_out() {
    let (m, _) = manager();
    let mut r = http::begin(&m, &head("POST", None)).unwrap();
    let (token, id) = r.next_token(&m).map(|(t, id)| (t.expose(), id)).unwrap();
    assert_eq!(m.store_len().unwrap(), 0);
    let out = r
        .finish(
            &m,
            Outcome {
                auth: Auth::LoggedIn("alice".into()),
                ..Outcome::default()
            },
        )
        .unwrap();
    assert_eq!(pair(&out), format!("__Host-session={token}"));
    assert_eq!(out.session_id, Some(id));

    let mut r = http::begin(&m, &head("POST", Some(&pair(&out)))).unwrap();
    let (next, next_id) = r.next_token(&m).map(|(t, id)| (t.expose(), id)).unwrap();
    assert!(r.regenerate(&m).unwrap());
    assert_eq!(r.id(), Some(next_id));
    let out = r.finish(&m, Outcome::default()).unwrap();
    assert_eq!(pair(&out), format!("__Host-session={next}"));
}
