//! Security requirements of docs/security.md that the other suites did not yet prove, through
//! the public API on a manual clock.

use serde_json::json;
use tessera::{Clock, Config, Context, ManualClock, Reason, SessionManager, Validation};

const MINUTE: u64 = 60_000;

fn manager(clock: &ManualClock) -> SessionManager {
    SessionManager::builder(Config::default())
        .clock(clock.clone())
        .sweep_interval(None)
        .build()
        .unwrap()
}

fn valid(v: Validation) -> tessera::Session {
    match v {
        Validation::Valid(s) => s,
        Validation::Rejected(reason) => panic!("rejected: {reason}"),
    }
}

/// ASVS 5.0 V7.5.1 / V7.5.3 and 4.0.3 V3.7.1: the application decides when to ask for the
/// password again before a sensitive change; Tessera tells it when the user last signed in.
/// `created_at` is the time of the last login: validations and rotations keep it, a new login
/// (re-authentication) restarts it, along with a new token.
#[test]
fn the_time_of_the_last_sign_in_is_known_for_step_up_checks() {
    let clock = ManualClock::default();
    let m = manager(&clock);
    let visitor = m.create(None, None, &Context::HTTPS).unwrap();
    clock.advance_millis(5 * MINUTE);
    let signed_in = m
        .login(
            Some(&visitor.new_token().unwrap().expose()),
            "alice",
            &Context::HTTPS,
        )
        .unwrap();
    let login_at = clock.now();
    assert_eq!(signed_in.created_at(), login_at);
    let mut token = signed_in.new_token().unwrap().expose();

    // Twenty minutes of activity, with a periodic rotation (every 15 minutes by default).
    let mut rotated = false;
    for _ in 0..4 {
        clock.advance_millis(5 * MINUTE);
        let s = valid(m.validate(&token, &Context::HTTPS).unwrap());
        assert_eq!(
            s.created_at(),
            login_at,
            "activity does not count as signing in"
        );
        if let Some(new) = s.new_token() {
            token = new.expose();
            rotated = true;
        }
    }
    assert!(rotated);
    assert_eq!(clock.now() - login_at, 20 * MINUTE);

    // Re-authentication before a sensitive change: a new token, and the clock restarts.
    let again = m.login(Some(&token), "alice", &Context::HTTPS).unwrap();
    assert_eq!(again.created_at(), clock.now());
    assert_ne!(again.new_token().unwrap().expose(), token);
    assert_eq!(
        m.validate(&token, &Context::HTTPS).unwrap().reason(),
        Some(Reason::Unknown),
        "the token from before the re-authentication is dead"
    );
}

/// WSTG-SESS-08 (session puzzling): the signed-in user is a field of its own that only `login`
/// (or `create` with a user) sets. No key of the session's data can pose as it.
#[test]
fn session_data_cannot_pose_as_the_signed_in_user() {
    let clock = ManualClock::default();
    let m = manager(&clock);
    let visitor = m.create(None, None, &Context::HTTPS).unwrap();
    let token = visitor.new_token().unwrap().expose();
    for key in ["user", "user_id", "_auth_user_id", "username", "sub"] {
        m.set(visitor.id(), key, json!("admin")).unwrap();
    }
    let s = valid(m.validate(&token, &Context::HTTPS).unwrap());
    assert_eq!(s.user(), None, "data is not identity");
    assert!(m.list_user("admin").unwrap().is_empty());

    let alice = m.login(Some(&token), "alice", &Context::HTTPS).unwrap();
    let token = alice.new_token().unwrap().expose();
    m.set(alice.id(), "user", json!("mallory")).unwrap();
    let s = valid(m.validate(&token, &Context::HTTPS).unwrap());
    assert_eq!(s.user(), Some("alice"));
    assert_eq!(s.get("user"), Some(&json!("mallory")));
}

/// The checklist ("cookies restricted in domain and path", "no persistent logins",
/// "Secure and HttpOnly") and ASVS 4.0.3 V3.4.1–V3.4.4: the default session cookie, attribute by
/// attribute, as the browser receives it.
#[test]
fn the_default_cookie_is_host_only_secure_http_only_and_dies_with_the_browser() {
    let clock = ManualClock::default();
    let m = manager(&clock);
    let s = m.login(None, "alice", &Context::HTTPS).unwrap();
    let header = m.set_cookie(s.new_token().unwrap());
    let mut parts = header.split("; ");
    let (name, value) = parts.next().unwrap().split_once('=').unwrap();
    assert_eq!(name, "__Host-session");
    assert_eq!(value, s.new_token().unwrap().expose());
    let mut attributes: Vec<&str> = parts.collect();
    attributes.sort_unstable();
    assert_eq!(
        attributes,
        ["HttpOnly", "Path=/", "SameSite=Lax", "Secure"],
        "no Domain (host-only), no Max-Age or Expires (a browser-session cookie)"
    );

    let cleared = m.clear_cookie();
    let mut attributes: Vec<&str> = cleared.split("; ").skip(1).collect();
    attributes.sort_unstable();
    assert_eq!(
        attributes,
        ["HttpOnly", "Max-Age=0", "Path=/", "SameSite=Lax", "Secure"]
    );

    // Without its __Host- name a cookie can be narrowed to a path, still never widened silently.
    let narrowed = Config {
        cookie_name: "app_session".into(),
        cookie_path: "/app".into(),
        ..Config::default()
    };
    let m = SessionManager::builder(narrowed)
        .clock(clock.clone())
        .sweep_interval(None)
        .build()
        .unwrap();
    let s = m.create(None, None, &Context::HTTPS).unwrap();
    let header = m.set_cookie(s.new_token().unwrap());
    assert!(
        header.ends_with("; Path=/app; Secure; HttpOnly; SameSite=Lax"),
        "{header}"
    );
    assert!(!header.contains("Domain"));
}
