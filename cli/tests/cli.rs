//! The `tessera` command against a private redis-server: list, revoke by user and by id, stats,
//! JSON output and exit codes.

use std::process::{Command, Output};

use serde_json::Value;
use tessera::{Config, Context, SessionManager};
use tessera_tests::redis_server::RedisServer;

fn tessera(store: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tessera"))
        .arg("--store")
        .arg(store)
        .args(args)
        .env_remove("TESSERA_STORE")
        .output()
        .expect("run tessera")
}

fn json(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)))
}

fn app(url: &str) -> SessionManager {
    let opts = serde_json::json!({ "store": url, "sweep_interval_ms": null });
    SessionManager::builder(Config::default())
        .options(opts.as_object().unwrap())
        .unwrap()
        .build()
        .unwrap()
}

#[test]
fn list_revoke_and_stats() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let url = server.url("cli");
    let m = app(&url);
    let ua = Context {
        https: true,
        user_agent: Some("phone/1"),
        ..Context::default()
    };
    let phone = m.login(None, "alice", &ua).unwrap();
    let laptop = m.login(None, "alice", &Context::HTTPS).unwrap();
    let bob = m.login(None, "bob", &Context::HTTPS).unwrap();

    let out = tessera(&url, &["sessions", "list", "--user", "alice", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let listed = json(&out);
    let ids: Vec<&str> = listed["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 2);
    // Signed in (level 1, when they signed in), neither bound to a device.
    for s in listed["sessions"].as_array().unwrap() {
        assert_eq!(s["auth_level"], 1);
        assert!(s["authenticated_at"].is_u64());
        assert!(s["bound_at"].is_null() && s["key_thumbprint"].is_null());
    }
    assert!(
        ids.contains(&phone.id().to_string().as_str())
            && ids.contains(&laptop.id().to_string().as_str())
    );
    let text = tessera(&url, &["sessions", "list", "--user", "alice"]);
    let shown = String::from_utf8_lossy(&text.stdout);
    assert!(shown.contains("phone/1") && shown.contains(&phone.id().to_string()));
    for s in [&phone, &laptop, &bob] {
        assert!(
            !shown.contains(&s.new_token().unwrap().expose()),
            "never a token"
        );
    }

    let stats = json(&tessera(&url, &["stats", "--json"]));
    assert_eq!(stats["sessions"], 3);
    assert_eq!(stats["store"], "redis");

    let out = tessera(
        &url,
        &[
            "sessions",
            "revoke",
            "--id",
            &phone.id().to_string(),
            "--json",
        ],
    );
    assert_eq!(
        (out.status.code(), json(&out)["revoked"].as_u64()),
        (Some(0), Some(1))
    );
    let out = tessera(
        &url,
        &["sessions", "revoke", "--id", &phone.id().to_string()],
    );
    assert_eq!(out.status.code(), Some(1), "nothing left to revoke");

    let out = tessera(&url, &["sessions", "revoke", "--user", "alice"]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "revoked 1 session(s)"
    );
    let token = laptop.new_token().unwrap().expose();
    assert!(
        m.validate(&token, &Context::HTTPS)
            .unwrap()
            .session()
            .is_none(),
        "the app sees it ended"
    );
    let out = tessera(&url, &["sessions", "list", "--user", "alice"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(json(&tessera(&url, &["stats", "--json"]))["sessions"], 1);
}

#[test]
fn errors_have_clear_exit_codes() {
    // Nothing listens on port 1: the store is unavailable (69), quickly.
    let down = "redis://127.0.0.1:1/0?connect_timeout_ms=200";
    let out = tessera(down, &["stats", "--json"]);
    assert_eq!(out.status.code(), Some(69));
    let err: Value = serde_json::from_slice(&out.stderr).unwrap();
    assert_eq!(err["error"], "store_unavailable");

    assert_eq!(tessera("ftp://x", &["stats"]).status.code(), Some(78));
    assert_eq!(
        tessera("memory://", &["--option", "idle_timeout_ms=0", "stats"])
            .status
            .code(),
        Some(78)
    );
    assert_eq!(
        tessera("memory://", &["sessions", "revoke", "--id", "not-hex"])
            .status
            .code(),
        Some(2)
    );
    assert_eq!(
        tessera("memory://", &["sessions", "revoke"]).status.code(),
        Some(2),
        "usage"
    );
    let out = tessera(
        "redis://:pw@127.0.0.1:1/0?connect_timeout_ms=200",
        &["stats"],
    );
    assert!(
        !String::from_utf8_lossy(&out.stderr).contains("pw@"),
        "no password in messages"
    );
}

#[test]
fn check_reports_what_the_apps_should_know_before_they_start() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let url = server.url("checked");
    let out = tessera(&url, &["check", "--json", "--option", "max_sessions=5000"]);
    assert_eq!(out.status.code(), Some(1), "a warning: {out:?}");
    let report = json(&out);
    assert_eq!(report["sessions"], 0);
    assert_eq!(report["max_sessions"], 5000);
    let warnings = report["warnings"].as_array().unwrap();
    assert_eq!(warnings.len(), 1, "{report}");
    assert!(warnings[0].as_str().unwrap().contains("no maxmemory"));

    let mut conn = server.connection();
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("maxmemory")
        .arg("64mb")
        .query(&mut conn)
        .unwrap();
    let out = tessera(&url, &["check"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("ready: no warnings"), "{text}");

    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("maxmemory-policy")
        .arg("allkeys-lru")
        .query(&mut conn)
        .unwrap();
    let out = tessera(&url, &["check"]);
    assert_eq!(
        out.status.code(),
        Some(69),
        "refused as the apps would: {out:?}"
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("allkeys-lru"));
}
