//! What the command prints: aligned text for people, JSON (via serde_json) for scripts.

use serde_json::json;
use tessera::{Error, SessionInfo, UnixMillis};

fn age(now: UnixMillis, then: UnixMillis) -> String {
    let s = now.saturating_sub(then) / 1000;
    match s {
        0..=59 => format!("{s}s ago"),
        60..=3599 => format!("{}m ago", s / 60),
        _ => format!("{}h{:02}m ago", s / 3600, s / 60 % 60),
    }
}

fn left(now: UnixMillis, then: UnixMillis) -> String {
    let s = then.saturating_sub(now) / 1000;
    format!("{}h{:02}m", s / 3600, s / 60 % 60)
}

pub fn list(user: &str, sessions: &[SessionInfo], now: UnixMillis, as_json: bool) {
    if as_json {
        let items: Vec<_> = sessions
            .iter()
            .map(|s| {
                json!({
                    "id": s.id.to_string(),
                    "created_at": s.created_at,
                    "last_seen": s.last_seen,
                    "expires_at": s.expires_at,
                    "absolute_deadline": s.absolute_deadline,
                    "user_agent": s.user_agent,
                    "secure": s.secure,
                    "authenticated_at": s.authenticated.as_ref().map(|a| a.at),
                    "auth_level": s.authenticated.as_ref().map(|a| a.level),
                    "bound_at": s.bound_at,
                    "key_thumbprint": s.key_thumbprint,
                })
            })
            .collect();
        println!("{}", json!({ "user": user, "sessions": items }));
        return;
    }
    if sessions.is_empty() {
        println!("{user} has no live sessions");
        return;
    }
    println!(
        "{:<64}  {:>10}  {:>10}  {:>8}  device",
        "id", "created", "last seen", "ends in"
    );
    for s in sessions {
        println!(
            "{:<64}  {:>10}  {:>10}  {:>8}  {}",
            s.id.to_string(),
            age(now, s.created_at),
            age(now, s.last_seen),
            left(now, s.expires_at),
            s.user_agent.as_deref().unwrap_or("-")
        );
    }
}

pub fn revoked(count: usize, as_json: bool) {
    if as_json {
        println!("{}", json!({ "revoked": count }));
    } else {
        println!("revoked {count} session(s)");
    }
}

pub fn stats(sessions: usize, store: &str, as_json: bool) {
    // The URL may carry a password: show only its scheme.
    let scheme = store.split("://").next().unwrap_or("");
    if as_json {
        println!("{}", json!({ "sessions": sessions, "store": scheme }));
    } else {
        println!("sessions: {sessions}\nstore: {scheme}://");
    }
}

pub fn check(sessions: usize, max_sessions: Option<usize>, warnings: &[String], as_json: bool) {
    if as_json {
        println!(
            "{}",
            json!({ "sessions": sessions, "max_sessions": max_sessions, "warnings": warnings })
        );
        return;
    }
    match max_sessions {
        Some(max) => println!("sessions: {sessions} of max_sessions {max}"),
        None => println!("sessions: {sessions} (no max_sessions)"),
    }
    if warnings.is_empty() {
        println!("ready: no warnings");
    }
    for w in warnings {
        println!("warning: {w}");
    }
}

pub fn error(e: &Error, as_json: bool) {
    if as_json {
        eprintln!("{}", json!({ "error": e.code(), "message": e.message() }));
    } else {
        eprintln!("tessera: {e}");
    }
}
