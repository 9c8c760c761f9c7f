//! A session's whole life on a manual clock, narrated: `make walkthrough` (or `cargo run -p
//! tessera-core --example walkthrough`).

use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use serde_json::json;
use tessera::{Clock, Config, Context, ManualClock, SessionManager, Validation};

fn main() -> Result<(), tessera::Error> {
    let clock = ManualClock::default();
    let log: Arc<Mutex<Vec<String>>> = Arc::default();
    let sink = Arc::clone(&log);
    let manager = SessionManager::builder(Config::default())
        .clock(clock.clone())
        .sweep_interval(None)
        .listener(move |e| {
            let id =
                e.id.map(|id| id.to_string()[..12].to_owned())
                    .unwrap_or_else(|| "-".into());
            let reason = e.reason.map(|r| format!(" ({r})")).unwrap_or_default();
            sink.lock()
                .push(format!("event: {}{reason} id={id}…", e.kind));
        })
        .build()?;
    let https = Context::HTTPS;
    let start = clock.now();
    let step = |text: &str| {
        let minutes = (clock.now() - start) / 60_000;
        println!("\n[t+{minutes:>3} min] {text}");
        for line in log.lock().drain(..) {
            println!("           {line}");
        }
    };
    let advance = |mins: u64| clock.advance(Duration::from_secs(mins * 60));

    println!(
        "Tessera walkthrough — defaults: idle 30 min, absolute 12 h, rotation every 15 min, grace 30 s"
    );

    let visitor = manager.create(None, None, &https)?;
    let anon = visitor.new_token().map(|t| t.expose()).unwrap_or_default();
    step(
        "A visitor arrives. The server mints a 256-bit token; the store keeps only its BLAKE3 id.",
    );
    println!(
        "           Set-Cookie: {}",
        manager
            .set_cookie(visitor.new_token().expect("new session"))
            .replace(&anon, "<token>")
    );
    manager.set(visitor.id(), "cart", json!(["book"]))?;
    step("They put a book in the cart (session data, keyed by the public id).");

    let signed_in = manager.login(Some(&anon), "alice", &https)?;
    let mut token = signed_in
        .new_token()
        .map(|t| t.expose())
        .unwrap_or_default();
    step("Alice signs in. Login is a privilege change: a new token, and the old one dies at once.");
    println!("           cart carried over: {:?}", signed_in.get("cart"));
    let verdict = manager.validate(&anon, &https)?;
    step(&format!(
        "Someone replays the pre-login token (session fixation): {:?}.",
        verdict.reason()
    ));

    advance(16);
    if let Validation::Valid(s) = manager.validate(&token, &https)? {
        let rotated = s.new_token().is_some();
        let old = token.clone();
        if let Some(new) = s.new_token() {
            token = new.expose();
        }
        step(&format!(
            "16 minutes later Alice clicks again. Rotation interval passed → new token: {rotated}."
        ));
        let again = manager.validate(&old, &https)?;
        step(&format!(
            "A request still in flight with the old token is fine for 30 s of grace: valid={}.",
            matches!(again, Validation::Valid(_))
        ));
        clock.advance(Duration::from_secs(31));
        let late = manager.validate(&old, &https)?;
        step(&format!(
            "31 s later the old token is gone: {:?}.",
            late.reason()
        ));
    }

    let csrf = manager.csrf_token(&token)?;
    step(&format!(
        "A form carries a masked CSRF token (86 chars, different on every page); it verifies: {}.",
        manager.verify_csrf(&token, &csrf)?
    ));

    let laptop = manager.login(None, "alice", &https)?;
    let laptop_token = laptop.new_token().map(|t| t.expose()).unwrap_or_default();
    step(&format!(
        "Alice also signs in on her laptop: she now has {} sessions.",
        manager.list_user("alice")?.len()
    ));
    let ended = manager.revoke_user_except("alice", &laptop_token)?;
    step(&format!(
        "From the laptop she chooses \"sign out other devices\": {ended} ended."
    ));
    step(&format!(
        "The phone's token now gives {:?}.",
        manager.validate(&token, &https)?.reason()
    ));

    advance(31);
    step(&format!(
        "The laptop is left idle for 31 minutes: {:?}.",
        manager.validate(&laptop_token, &https)?.reason()
    ));

    let tablet = manager.login(None, "alice", &https)?;
    let tablet_token = tablet.new_token().map(|t| t.expose()).unwrap_or_default();
    let signed_out = manager.logout(&tablet_token)?;
    step(&format!(
        "On her tablet Alice signs in, then out: the server-side record is destroyed ({signed_out}) and the cookie cleared:"
    ));
    println!("           Set-Cookie: {}", manager.clear_cookie());
    println!("           Cache-Control: no-store");
    step(&format!(
        "Replaying the tablet's cookie afterwards: {:?}.",
        manager.validate(&tablet_token, &https)?.reason()
    ));

    manager.login(None, "bob", &https)?;
    step("Bob signs in at a kiosk and walks away without signing out.");

    let fresh = manager.login(None, "alice", &https)?;
    let mut keep = fresh.new_token().map(|t| t.expose()).unwrap_or_default();
    step("Alice signs in again and stays busy, clicking every 15 minutes.");
    let mut rotations = 0;
    for _ in 0..48 {
        advance(15);
        match manager.validate(&keep, &https)? {
            Validation::Valid(s) => {
                if let Some(n) = s.new_token() {
                    keep = n.expose();
                    rotations += 1;
                }
                log.lock().clear();
            }
            Validation::Rejected(reason) => {
                step(&format!(
                    "After {rotations} rotations, the session still ends at its 12-hour absolute limit: {reason}."
                ));
                break;
            }
        }
    }
    let swept = manager.sweep()?;
    step(&format!(
        "The sweeper removes what expired without being seen again (Bob's kiosk): {swept} record(s)."
    ));
    println!("\nSessions left in the store: {}", manager.store_len()?);
    Ok(())
}
