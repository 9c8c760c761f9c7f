//! Device-bound sessions end to end through the request protocol and the two endpoints, with a
//! scripted client that signs its proofs as Chrome does (`docs/dbsc.md` Part 3), and step-up
//! re-authentication. Memory store, manual clock.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::rand::SystemRandom;
use ring::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair, RSA_PKCS1_SHA256, RsaKeyPair,
    RsaPublicKeyComponents,
};
use serde_json::{Value, json};
use tessera::config::Dbsc;
use tessera::dbsc::{self, DbscHead, EndpointResponse};
use tessera::http::{self, Auth, Outcome, RequestHead};
use tessera::{
    Authn, Config, Event, EventKind, Freshness, ManualClock, Proof, Reason, SessionManager,
};

const T0: u64 = 1_700_000_000_000;
const MIN: u64 = 60_000;
const SESSION: &str = "__Host-session";
const BOUND: &str = "__Host-session-bound";
const ORIGIN: &str = "https://app.example";

struct Site {
    m: SessionManager,
    clock: ManualClock,
    events: Arc<Mutex<Vec<Event>>>,
}

fn site_with(dbsc: Option<Dbsc>) -> Site {
    let clock = ManualClock::new(T0);
    let events = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&events);
    let config = Config {
        dbsc,
        ..Config::default()
    };
    let m = SessionManager::builder(config)
        .clock(clock.clone())
        .sweep_interval(None)
        .listener(move |e| seen.lock().unwrap().push(e.clone()))
        .build()
        .unwrap();
    Site { m, clock, events }
}

fn site() -> Site {
    site_with(Some(Dbsc::default()))
}

impl Site {
    fn advance(&self, ms: u64) {
        self.clock.advance(Duration::from_millis(ms));
    }

    /// The events since the last call, as (kind, detail).
    fn events(&self) -> Vec<(EventKind, Option<&'static str>)> {
        let mut list = self.events.lock().unwrap();
        list.drain(..).map(|e| (e.kind, e.detail)).collect()
    }
}

/// A browser's cookie jar, as the corpus runners keep it.
#[derive(Clone, Default)]
struct Jar(BTreeMap<String, String>);

impl Jar {
    fn header(&self) -> Option<String> {
        (!self.0.is_empty()).then(|| {
            let pairs: Vec<String> = self.0.iter().map(|(k, v)| format!("{k}={v}")).collect();
            pairs.join("; ")
        })
    }

    fn absorb<'a>(&mut self, set_cookies: impl IntoIterator<Item = &'a str>) {
        for line in set_cookies {
            let pair = line.split(';').next().unwrap();
            let (name, value) = pair.split_once('=').unwrap();
            if line.contains("Max-Age=0") {
                self.0.remove(name);
            } else {
                self.0.insert(name.to_owned(), value.to_owned());
            }
        }
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    /// A copy holding only `names` (a thief's).
    fn steal(&self, names: &[&str]) -> Jar {
        Jar(self
            .0
            .iter()
            .filter(|(k, _)| names.contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect())
    }
}

/// What one ordinary request saw.
struct Seen {
    user: Option<String>,
    reason: Option<Reason>,
    proof: Option<Proof>,
    headers: Vec<(String, String)>,
}

impl Seen {
    fn set_cookies(&self) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n == "Set-Cookie")
            .map(|(_, v)| v.as_str())
            .collect()
    }

    fn registration(&self) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == "Secure-Session-Registration")
            .map(|(_, v)| v.as_str())
    }
}

/// One request through the request protocol: begin, the app's `outcome`, finish.
fn request(site: &Site, jar: &mut Jar, https: bool, outcome: Outcome) -> Seen {
    let cookie = jar.header();
    let head = RequestHead {
        cookie_header: cookie.as_deref(),
        https,
        method: "POST",
        ..RequestHead::default()
    };
    let r = http::begin(&site.m, &head).unwrap();
    let (user, reason, proof) = (r.user().map(str::to_owned), r.reason(), r.proof());
    let response = r.finish(&site.m, outcome).unwrap();
    let headers: Vec<(String, String)> = response
        .headers()
        .into_iter()
        .map(|(n, v)| (n.to_owned(), v.to_owned()))
        .collect();
    let seen = Seen {
        user,
        reason,
        proof,
        headers,
    };
    jar.absorb(seen.set_cookies());
    seen
}

/// Begin a request with `cookie` (a whole `Cookie` header), over HTTPS.
fn begin(site: &Site, cookie: Option<&str>, method: &str) -> http::Request {
    let head = RequestHead {
        cookie_header: cookie,
        https: true,
        method,
        ..RequestHead::default()
    };
    http::begin(&site.m, &head).unwrap()
}

fn visit(site: &Site, jar: &mut Jar) -> Seen {
    request(site, jar, true, Outcome::default())
}

fn sign_in(site: &Site, jar: &mut Jar, user: &str) -> Seen {
    let outcome = Outcome {
        auth: Auth::LoggedIn(user.into()),
        ..Outcome::default()
    };
    request(site, jar, true, outcome)
}

/// The challenge of a `Secure-Session-Registration` offer (the one Tessera writes).
fn offered(value: &str) -> String {
    let at = value.find("challenge=\"").expect("a challenge") + "challenge=\"".len();
    value[at..value[at..].find('"').unwrap() + at].to_owned()
}

/// A device: a key pair the way a browser keeps one.
enum Device {
    Ec(EcdsaKeyPair),
    Rsa(RsaKeyPair),
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

impl Device {
    fn es256() -> Device {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
        Device::Ec(
            EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng)
                .unwrap(),
        )
    }

    fn rs256() -> Device {
        let der = include_bytes!("../src/dbsc/testdata/rsa2048.pk8");
        Device::Rsa(RsaKeyPair::from_pkcs8(der).unwrap())
    }

    fn alg(&self) -> &'static str {
        match self {
            Device::Ec(_) => "ES256",
            Device::Rsa(_) => "RS256",
        }
    }

    fn jwk(&self) -> Value {
        match self {
            Device::Ec(pair) => {
                let point = pair.public_key().as_ref();
                json!({"kty": "EC", "crv": "P-256", "x": b64(&point[1..33]), "y": b64(&point[33..65])})
            }
            Device::Rsa(pair) => {
                let c: RsaPublicKeyComponents<Vec<u8>> = pair.public().into();
                json!({"kty": "RSA", "n": b64(&c.n), "e": b64(&c.e)})
            }
        }
    }

    fn sign(&self, message: &[u8]) -> Vec<u8> {
        let rng = SystemRandom::new();
        match self {
            Device::Ec(pair) => pair.sign(&rng, message).unwrap().as_ref().to_vec(),
            Device::Rsa(pair) => {
                let mut sig = vec![0; pair.public().modulus_len()];
                pair.sign(&RSA_PKCS1_SHA256, &rng, message, &mut sig)
                    .unwrap();
                sig
            }
        }
    }

    /// A proof over `jti`: with the key in the header for a registration, as Chrome sends it.
    fn proof(&self, jti: &str, registration: bool) -> String {
        let mut header = json!({"alg": self.alg(), "typ": "dbsc+jwt"});
        if registration {
            header["jwk"] = self.jwk();
        }
        self.jws(&header, &json!({ "jti": jti }))
    }

    fn jws(&self, header: &Value, payload: &Value) -> String {
        let input = format!(
            "{}.{}",
            b64(header.to_string().as_bytes()),
            b64(payload.to_string().as_bytes())
        );
        let sig = self.sign(input.as_bytes());
        format!("{input}.{}", b64(&sig))
    }
}

fn endpoint_head<'a>(cookie: Option<&'a str>, proof: Option<&'a str>) -> DbscHead<'a> {
    DbscHead {
        cookie_header: cookie,
        https: true,
        method: "POST",
        origin: Some(ORIGIN),
        session_id: None,
        proof,
    }
}

fn absorb(jar: &mut Jar, r: &EndpointResponse) {
    jar.absorb(
        r.headers
            .iter()
            .filter(|(n, _)| *n == "Set-Cookie")
            .map(|(_, v)| v.as_str()),
    );
}

fn header<'a>(r: &'a EndpointResponse, name: &str) -> Option<&'a str> {
    r.headers
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v.as_str())
}

fn register(site: &Site, jar: &mut Jar, proof: Option<&str>) -> EndpointResponse {
    let cookie = jar.header();
    let r = dbsc::register(&site.m, &endpoint_head(cookie.as_deref(), proof)).unwrap();
    absorb(jar, &r);
    r
}

fn refresh(site: &Site, jar: &mut Jar, bid: Option<&str>, proof: Option<&str>) -> EndpointResponse {
    let cookie = jar.header();
    let head = DbscHead {
        session_id: bid,
        ..endpoint_head(cookie.as_deref(), proof)
    };
    let r = dbsc::refresh(&site.m, &head).unwrap();
    absorb(jar, &r);
    r
}

fn body(r: &EndpointResponse) -> Value {
    serde_json::from_str(&r.body).unwrap()
}

/// The challenge of a 403 refresh answer, checked to name the binding.
fn challenge_of(r: &EndpointResponse, bid: &str) -> String {
    assert_eq!(r.status, 403, "{r:?}");
    let value = header(r, "Secure-Session-Challenge").expect("a challenge");
    let (challenge, id) = value.split_once(";id=").unwrap();
    assert_eq!(id, format!("\"{bid}\""));
    challenge.trim_matches('"').to_owned()
}

/// Sign `user` in and bind the session to `device`: the jar then holds both cookies. Returns the
/// binding id. Leaves the clock past the enforcement grace.
fn bound(site: &Site, jar: &mut Jar, user: &str, device: &Device) -> String {
    let seen = sign_in(site, jar, user);
    let challenge = offered(seen.registration().expect("a sign-in offers a binding"));
    let r = register(site, jar, Some(&device.proof(&challenge, true)));
    assert_eq!(r.status, 200, "{r:?}");
    site.advance(10_000);
    body(&r)["session_identifier"].as_str().unwrap().to_owned()
}

/// A full refresh as Chrome makes it: no proof, 403 with a challenge, then the signed proof.
fn full_refresh(site: &Site, jar: &mut Jar, bid: &str, device: &Device) -> EndpointResponse {
    let first = refresh(site, jar, Some(bid), None);
    let challenge = challenge_of(&first, bid);
    refresh(site, jar, Some(bid), Some(&device.proof(&challenge, false)))
}

#[test]
fn es256_and_rs256_sessions_bind_refresh_and_serve_only_with_the_bound_cookie() {
    for device in [Device::es256(), Device::rs256()] {
        let site = site();
        let mut jar = Jar::default();
        let seen = sign_in(&site, &mut jar, "alice");
        let offer = seen.registration().expect("offered at sign-in");
        assert!(offer.starts_with("(ES256 RS256);path=\"/_tessera/dbsc/register\";challenge="));
        let r = register(&site, &mut jar, Some(&device.proof(&offered(offer), true)));
        assert_eq!(r.status, 200, "{r:?}");
        assert_eq!(header(&r, "Cache-Control"), Some("no-store"));
        assert_eq!(header(&r, "Content-Type"), Some("application/json"));
        let config = body(&r);
        let bid = config["session_identifier"].as_str().unwrap().to_owned();
        assert_eq!(bid.len(), 22);
        assert_eq!(config["refresh_url"], "/_tessera/dbsc/refresh");
        assert_eq!(config["scope"]["origin"], ORIGIN);
        assert_eq!(config["scope"]["include_site"], false);
        assert_eq!(config["credentials"][0]["name"], BOUND);
        assert_eq!(
            config["credentials"][0]["attributes"],
            "Path=/; Secure; HttpOnly; SameSite=Lax"
        );
        let set = header(&r, "Set-Cookie").unwrap();
        assert!(
            set.starts_with(BOUND) && set.contains("Max-Age=600"),
            "{set}"
        );
        let registered = site.events();
        assert!(registered.contains(&(EventKind::Registered, Some(device.alg()))));

        site.advance(10_000);
        let seen = visit(&site, &mut jar);
        assert_eq!(seen.user.as_deref(), Some("alice"));
        assert_eq!(seen.proof, Some(Proof::Fresh));

        // Nine minutes on, the browser refreshes: 403 with a challenge, then the proof.
        site.advance(9 * MIN);
        let before = jar.get(BOUND).unwrap().to_owned();
        let old_jar = jar.clone();
        let r = full_refresh(&site, &mut jar, &bid, &device);
        assert_eq!(r.status, 200, "{r:?}");
        assert_eq!(body(&r)["session_identifier"], bid.as_str());
        assert_ne!(jar.get(BOUND).unwrap(), before, "a new bound cookie");
        assert!(
            site.events()
                .contains(&(EventKind::Refreshed, Some(device.alg())))
        );
        // Requests in flight with the previous bound cookie still pass until it expires.
        let mut in_flight = old_jar.clone();
        assert_eq!(visit(&site, &mut in_flight).user.as_deref(), Some("alice"));
        assert_eq!(visit(&site, &mut jar).user.as_deref(), Some("alice"));
        site.advance(MIN);
        let mut late = old_jar;
        let seen = visit(&site, &mut late);
        assert_eq!(seen.user, None);
        assert_eq!(seen.reason, Some(Reason::BindingMissing));
        assert_eq!(visit(&site, &mut jar).user.as_deref(), Some("alice"));

        // Signing out clears both cookies.
        let seen = request(
            &site,
            &mut jar,
            true,
            Outcome {
                auth: Auth::LoggedOut,
                ..Outcome::default()
            },
        );
        let cleared: Vec<&str> = seen.set_cookies();
        assert!(
            cleared
                .iter()
                .any(|c| c.starts_with(&format!("{SESSION}=;")))
        );
        assert!(cleared.iter().any(|c| c.starts_with(&format!("{BOUND}=;"))));
        assert!(jar.0.is_empty());
    }
}

#[test]
fn a_stolen_long_lived_cookie_alone_is_anonymous_and_changes_nothing() {
    let site = site();
    let mut owner = Jar::default();
    let device = Device::es256();
    let bid = bound(&site, &mut owner, "alice", &device);
    // The lifecycle calls judge the binding as validate does, and report the proof.
    let token = owner.get(SESSION).unwrap().to_owned();
    let proven = tessera::Context {
        bound: tessera::Presented::from_values(owner.get(BOUND).into_iter()),
        ..tessera::Context::HTTPS
    };
    let rotated = site.m.rotate(&token, &proven).unwrap().session().unwrap();
    assert_eq!(rotated.proof(), Proof::Fresh);
    assert_eq!(
        site.m
            .rotate(&token, &tessera::Context::HTTPS)
            .unwrap()
            .reason(),
        Some(Reason::BindingMissing)
    );
    owner
        .0
        .insert(SESSION.into(), rotated.new_token().unwrap().expose());
    site.events();
    let mut thief = owner.steal(&[SESSION]);
    let listed = |site: &Site| site.m.list_user("alice").unwrap()[0].last_seen;
    let seen_before = listed(&site);
    site.advance(20 * MIN); // past the rotation interval too (S5)
    let seen = visit(&site, &mut thief);
    assert_eq!(seen.user, None);
    assert_eq!(seen.reason, Some(Reason::BindingMissing));
    assert!(
        seen.headers.is_empty(),
        "no Set-Cookie, no rotation: {:?}",
        seen.headers
    );
    assert_eq!(
        site.events(),
        vec![(EventKind::BindingMissing, Some("absent"))]
    );
    assert_eq!(
        listed(&site),
        seen_before,
        "the thief's request did not touch the session"
    );
    // What the thief writes goes nowhere; a sign-in gets the thief a session of his own.
    let seen = request(
        &site,
        &mut thief,
        true,
        Outcome {
            data: Some(serde_json::from_value(json!({"k": 1})).unwrap()),
            ..Outcome::default()
        },
    );
    assert!(seen.headers.is_empty());
    sign_in(&site, &mut thief, "mallory");
    assert_eq!(site.m.list_user("alice").unwrap().len(), 1);
    // The owner goes on (refreshing first: the bound cookie lapsed meanwhile).
    let r = full_refresh(&site, &mut owner, &bid, &device);
    assert_eq!(r.status, 200, "{r:?}");
    let seen = visit(&site, &mut owner);
    assert_eq!(seen.user.as_deref(), Some("alice"));
    assert_eq!(seen.proof, Some(Proof::Fresh));
}

#[test]
fn both_cookies_stolen_stop_working_once_the_bound_cookie_lapses() {
    let site = site();
    let mut owner = Jar::default();
    let device = Device::rs256();
    let bid = bound(&site, &mut owner, "alice", &device);
    let mut thief = owner.steal(&[SESSION, BOUND]);
    assert_eq!(visit(&site, &mut thief).user.as_deref(), Some("alice"));
    // The owner's browser refreshes before expiry; the thief cannot.
    site.advance(8 * MIN);
    assert_eq!(full_refresh(&site, &mut owner, &bid, &device).status, 200);
    site.advance(2 * MIN);
    let seen = visit(&site, &mut thief);
    assert_eq!(seen.user, None, "refused after the bound cookie's lifetime");
    assert_eq!(seen.reason, Some(Reason::BindingMissing));
    assert!(
        site.events()
            .contains(&(EventKind::BindingMissing, Some("expired")))
    );
    // Without the key, the thief's refresh gets a challenge it cannot sign.
    let r = refresh(&site, &mut thief, Some(&bid), None);
    let challenge = challenge_of(&r, &bid);
    let forged = Device::es256().proof(&challenge, false);
    let r = refresh(&site, &mut thief, Some(&bid), Some(&forged));
    assert_eq!(r.status, 200);
    assert_eq!(body(&r)["continue"], false);
    assert!(
        site.events()
            .contains(&(EventKind::ProofFailed, Some("alg_mismatch")))
    );
    assert!(
        header(&r, "Set-Cookie").is_none(),
        "no bound cookie for a bad proof"
    );
    assert_eq!(visit(&site, &mut owner).user.as_deref(), Some("alice"));
}

/// Builds a proof over a challenge.
type MakeProof<'a> = Box<dyn Fn(&str) -> String + 'a>;

/// Register with `proof`, expecting a refusal with `code`.
fn refused(site: &Site, jar: &mut Jar, proof: Option<&str>, status: u16, code: &str) {
    let r = register(site, jar, proof);
    assert_eq!(r.status, status, "{r:?}");
    assert_eq!(body(&r)["error"], code, "{r:?}");
    assert!(header(&r, "Set-Cookie").is_none());
}

fn signed_in_offer(site: &Site, jar: &mut Jar) -> String {
    let seen = sign_in(site, jar, "alice");
    offered(seen.registration().unwrap())
}

#[test]
fn registration_refuses_bad_proofs_and_spends_the_offer() {
    let device = Device::es256();
    let site = site();
    let mut jar = Jar::default();
    let c0 = signed_in_offer(&site, &mut jar);
    // R1: no proof.
    refused(&site, &mut jar, None, 400, "no_proof");
    // R2: wrong typ, then the good proof finds the offer spent.
    let bad_typ = device.jws(
        &json!({"alg": "ES256", "typ": "jwt", "jwk": device.jwk()}),
        &json!({"jti": c0}),
    );
    refused(&site, &mut jar, Some(&bad_typ), 403, "bad_typ");
    refused(
        &site,
        &mut jar,
        Some(&device.proof(&c0, true)),
        403,
        "no_challenge",
    );
    assert!(
        site.events()
            .contains(&(EventKind::ProofFailed, Some("bad_typ")))
    );

    // R3, R7, R8, R13 each on a fresh offer.
    let header_none = b64(br#"{"alg":"none","typ":"dbsc+jwt"}"#);
    let cases: Vec<(MakeProof<'_>, &str)> = vec![
        (
            Box::new(|c: &str| {
                format!(
                    "{header_none}.{}.",
                    b64(json!({"jti": c}).to_string().as_bytes())
                )
            }),
            "malformed",
        ),
        (
            Box::new(|c: &str| {
                format!(
                    "{header_none}.{}.{}",
                    b64(json!({"jti": c}).to_string().as_bytes()),
                    b64(b"sig")
                )
            }),
            "alg_not_allowed",
        ),
        (
            Box::new(|c: &str| {
                let good = device.proof(c, true);
                let (head, sig) = good.rsplit_once('.').unwrap();
                let mut raw = URL_SAFE_NO_PAD.decode(sig).unwrap();
                raw[5] ^= 1;
                format!("{head}.{}", b64(&raw))
            }),
            "bad_signature",
        ),
        (
            Box::new(|_: &str| device.proof("other", true)),
            "unknown_challenge",
        ),
        (
            Box::new(|c: &str| {
                device.jws(
                    &json!({"alg": "ES256", "typ": "dbsc+jwt", "jwk": device.jwk(), "crit": ["exp"]}),
                    &json!({"jti": c}),
                )
            }),
            "malformed",
        ),
    ];
    for (make, code) in cases {
        let c = signed_in_offer(&site, &mut jar);
        refused(&site, &mut jar, Some(&make(&c)), 403, code);
    }

    // R9: the good proof twice.
    let c = signed_in_offer(&site, &mut jar);
    let proof = device.proof(&c, true);
    assert_eq!(register(&site, &mut jar, Some(&proof)).status, 200);
    refused(&site, &mut jar, Some(&proof), 403, "already_bound");

    // R10: the offer lasts two minutes.
    let c = signed_in_offer(&site, &mut jar);
    site.advance(2 * MIN + 1);
    refused(
        &site,
        &mut jar,
        Some(&device.proof(&c, true)),
        403,
        "challenge_expired",
    );

    // R11: session A's challenge with session B's cookie.
    let mut other = Jar::default();
    let c_a = signed_in_offer(&site, &mut jar);
    signed_in_offer(&site, &mut other);
    refused(
        &site,
        &mut other,
        Some(&device.proof(&c_a, true)),
        403,
        "unknown_challenge",
    );

    // R14: not over HTTPS; no session at all.
    let cookie = jar.header();
    let plain = DbscHead {
        https: false,
        ..endpoint_head(cookie.as_deref(), Some("x.y.z"))
    };
    assert_eq!(dbsc::register(&site.m, &plain).unwrap().status, 400);
    let mut nobody = Jar::default();
    refused(
        &site,
        &mut nobody,
        Some(&device.proof("c", true)),
        403,
        "no_session",
    );
    let get = DbscHead {
        method: "GET",
        ..endpoint_head(cookie.as_deref(), Some("x.y.z"))
    };
    assert_eq!(dbsc::register(&site.m, &get).unwrap().status, 405);
}

#[test]
fn refresh_challenges_are_single_use_and_bad_proofs_end_the_browser_session() {
    let device = Device::es256();
    let site = site();
    let mut jar = Jar::default();
    let bid = bound(&site, &mut jar, "alice", &device);
    let end = |r: &EndpointResponse| {
        assert_eq!(r.status, 200, "{r:?}");
        assert_eq!(body(r)["continue"], false);
    };
    // F1: not the browser's machinery.
    let r = refresh(&site, &mut jar, None, None);
    assert_eq!(r.status, 400);
    assert!(header(&r, "Secure-Session-Challenge").is_none());
    // F2: another binding's id.
    end(&refresh(&site, &mut jar, Some("wrongid"), None));
    assert_eq!(
        body(&refresh(&site, &mut jar, Some("wrongid"), None))["session_identifier"],
        "wrongid"
    );
    // F3, quoted as the draft writes it.
    let quoted = format!("\"{bid}\"");
    let c1 = challenge_of(&refresh(&site, &mut jar, Some(&quoted), None), &bid);
    // F8: a second challenge; the first still answers once, then the second once.
    let c2 = challenge_of(&refresh(&site, &mut jar, Some(&bid), None), &bid);
    let p1 = device.proof(&c1, false);
    assert_eq!(refresh(&site, &mut jar, Some(&bid), Some(&p1)).status, 200);
    // F6: the accepted proof again gets a new challenge, not a cookie.
    challenge_of(&refresh(&site, &mut jar, Some(&bid), Some(&p1)), &bid);
    let p2 = device.proof(&c2, false);
    assert_eq!(refresh(&site, &mut jar, Some(&bid), Some(&p2)).status, 200);
    challenge_of(&refresh(&site, &mut jar, Some(&bid), Some(&p2)), &bid);
    let events = site.events();
    assert!(events.contains(&(EventKind::ProofFailed, Some("unknown_challenge"))));
    // F7: a challenge older than a minute.
    let c = challenge_of(&refresh(&site, &mut jar, Some(&bid), None), &bid);
    site.advance(MIN + 1);
    challenge_of(
        &refresh(&site, &mut jar, Some(&bid), Some(&device.proof(&c, false))),
        &bid,
    );
    assert!(
        site.events()
            .contains(&(EventKind::ProofFailed, Some("challenge_expired")))
    );
    // F4: another key; F9: a registration-style proof naming its own key. Both end the
    // browser's session and mint nothing; the Tessera session stays.
    for forged in [
        Device::es256().proof(
            &challenge_of(&refresh(&site, &mut jar, Some(&bid), None), &bid),
            false,
        ),
        {
            let other = Device::es256();
            other.proof(
                &challenge_of(&refresh(&site, &mut jar, Some(&bid), None), &bid),
                true,
            )
        },
    ] {
        let before = jar.get(BOUND).map(str::to_owned);
        let r = refresh(&site, &mut jar, Some(&bid), Some(&forged));
        end(&r);
        assert_eq!(jar.get(BOUND).map(str::to_owned), before);
    }
    assert!(
        site.events()
            .contains(&(EventKind::ProofFailed, Some("bad_signature")))
    );
    assert_eq!(visit(&site, &mut jar).user.as_deref(), Some("alice"));
}

#[test]
fn refresh_reads_without_touching_and_ends_with_the_session() {
    let device = Device::es256();
    let site = site();
    let mut jar = Jar::default();
    let bid = bound(&site, &mut jar, "alice", &device);
    let seen = site.m.list_user("alice").unwrap()[0].last_seen;
    site.advance(5 * MIN);
    assert_eq!(full_refresh(&site, &mut jar, &bid, &device).status, 200);
    assert_eq!(
        site.m.list_user("alice").unwrap()[0].last_seen,
        seen,
        "F12: not touched"
    );
    // F12: past the idle timeout, the refresh ends the browser's session and clears the cookies.
    site.advance(30 * MIN);
    let r = refresh(&site, &mut jar, Some(&bid), None);
    assert_eq!(body(&r)["continue"], false);
    assert!(jar.0.is_empty(), "both cookies cleared: {:?}", jar.0.keys());

    // F10: revoked while bound.
    let mut jar = Jar::default();
    let bid = bound(&site, &mut jar, "bob", &device);
    let id = site.m.list_user("bob").unwrap()[0].id;
    assert!(site.m.revoke(&id).unwrap());
    let seen = visit(&site, &mut jar.clone());
    assert_eq!(seen.user, None);
    assert!(
        seen.set_cookies()
            .iter()
            .any(|c| c.starts_with(&format!("{BOUND}=;"))),
        "S6"
    );
    let r = refresh(&site, &mut jar, Some(&bid), None);
    assert_eq!(body(&r)["continue"], false);

    // F11: signing in again on the same browser ends the binding.
    let mut jar = Jar::default();
    let bid = bound(&site, &mut jar, "carol", &device);
    site.events();
    let seen = sign_in(&site, &mut jar, "carol");
    assert!(seen.registration().is_some(), "a new offer");
    assert!(site.events().contains(&(EventKind::Unbound, Some("login"))));
    assert!(jar.get(BOUND).is_none(), "the old bound cookie is cleared");
    let r = refresh(&site, &mut jar, Some(&bid), None);
    assert_eq!(body(&r)["continue"], false);
    assert!(
        site.events()
            .contains(&(EventKind::ProofFailed, Some("not_bound")))
    );
    // The new session is not bound: no bound cookie needed.
    assert_eq!(visit(&site, &mut jar).proof, Some(Proof::Unbound));
}

#[test]
fn bound_cookies_are_judged_per_session() {
    let device = Device::es256();
    let site = site();
    let mut alice = Jar::default();
    let mut bob = Jar::default();
    bound(&site, &mut alice, "alice", &device);
    bound(&site, &mut bob, "bob", &device);
    site.events();
    // S3: Alice's bound cookie with Bob's token.
    let mut mixed = bob.steal(&[SESSION]);
    mixed
        .0
        .insert(BOUND.into(), alice.get(BOUND).unwrap().into());
    assert_eq!(
        visit(&site, &mut mixed).reason,
        Some(Reason::BindingMissing)
    );
    assert_eq!(
        site.events(),
        vec![(EventKind::BindingMissing, Some("mismatch"))]
    );
    // S4: two bound cookies.
    let cookie = format!(
        "{SESSION}={}; {BOUND}={}; {BOUND}={}",
        alice.get(SESSION).unwrap(),
        alice.get(BOUND).unwrap(),
        alice.get(BOUND).unwrap()
    );
    let r = begin(&site, Some(&cookie), "GET");
    assert_eq!(r.reason(), Some(Reason::BindingMissing));
    assert_eq!(
        site.events(),
        vec![(EventKind::BindingMissing, Some("ambiguous"))]
    );
    // S7: after a logout, the old bound cookie belongs to nothing and is ignored.
    let mut jar = alice.clone();
    request(
        &site,
        &mut jar,
        true,
        Outcome {
            auth: Auth::LoggedOut,
            data: Some(serde_json::from_value(json!({"note": "bye"})).unwrap()),
            ..Outcome::default()
        },
    );
    jar.0.insert(BOUND.into(), alice.get(BOUND).unwrap().into());
    let seen = visit(&site, &mut jar);
    assert_eq!(seen.proof, Some(Proof::Unbound));
}

#[test]
fn requests_just_after_registration_pass_within_the_grace() {
    let device = Device::es256();
    let site = site();
    let mut jar = Jar::default();
    let challenge = signed_in_offer(&site, &mut jar);
    assert_eq!(
        register(&site, &mut jar, Some(&device.proof(&challenge, true))).status,
        200
    );
    let mut early = jar.steal(&[SESSION]);
    site.advance(9_999);
    let seen = visit(&site, &mut early);
    assert_eq!(
        (seen.user.as_deref(), seen.proof),
        (Some("alice"), Some(Proof::Pending))
    );
    site.advance(1);
    assert_eq!(
        visit(&site, &mut early).reason,
        Some(Reason::BindingMissing)
    );
}

#[test]
fn a_data_write_and_a_refresh_racing_keep_both() {
    let device = Device::es256();
    let site = site();
    let mut jar = Jar::default();
    let bid = bound(&site, &mut jar, "alice", &device);
    let challenge = challenge_of(&refresh(&site, &mut jar, Some(&bid), None), &bid);
    // The data write begins, the refresh lands, the write finishes (S8).
    let cookie = jar.header().unwrap();
    let r = begin(&site, Some(&cookie), "POST");
    assert_eq!(
        refresh(
            &site,
            &mut jar,
            Some(&bid),
            Some(&device.proof(&challenge, false))
        )
        .status,
        200
    );
    r.finish(
        &site.m,
        Outcome {
            data: Some(serde_json::from_value(json!({"k": "v"})).unwrap()),
            ..Outcome::default()
        },
    )
    .unwrap();
    let cookie = jar.header().unwrap();
    let r = begin(&site, Some(&cookie), "GET");
    assert_eq!(
        r.proof(),
        Some(Proof::Fresh),
        "the refresh's cookie is current"
    );
    assert_eq!(r.data().get("k"), Some(&json!("v")), "the write survived");
}

#[test]
fn offers_only_go_to_signed_in_unbound_sessions_over_https() {
    let device = Device::es256();
    let site = site();
    let mut jar = Jar::default();
    // Plain HTTP sign-in: no offer.
    let seen = request(
        &site,
        &mut jar,
        false,
        Outcome {
            auth: Auth::LoggedIn("alice".into()),
            ..Outcome::default()
        },
    );
    assert!(seen.registration().is_none());
    // An explicit offer later, over HTTPS.
    let cookie = jar.header().unwrap();
    let mut r = begin(&site, Some(&cookie), "GET");
    assert!(r.offer_binding(&site.m).unwrap());
    let response = r.finish(&site.m, Outcome::default()).unwrap();
    let mut jar2 = jar.clone();
    jar2.absorb(
        response
            .headers()
            .iter()
            .filter(|(n, _)| *n == "Set-Cookie")
            .map(|(_, v)| *v),
    );
    let offer = response.registration.clone().expect("offered");
    assert_eq!(
        register(
            &site,
            &mut jar2,
            Some(&device.proof(&offered(&offer), true))
        )
        .status,
        200
    );
    // Bound now: no more offers, not even explicit ones (a thief must not re-bind it).
    site.advance(10_000);
    let cookie = jar2.header().unwrap();
    let mut r = begin(&site, Some(&cookie), "GET");
    assert!(!r.offer_binding(&site.m).unwrap());
    // Anonymous sessions get none either.
    let mut anon = Jar::default();
    let seen = request(
        &site,
        &mut anon,
        true,
        Outcome {
            data: Some(serde_json::from_value(json!({"k": 1})).unwrap()),
            ..Outcome::default()
        },
    );
    assert!(seen.registration().is_none());
    // The app ends a binding: the session lives on, unbound.
    let id = site.m.list_user("alice").unwrap()[0].id;
    assert!(site.m.unbind(&id).unwrap());
    assert!(site.events().contains(&(EventKind::Unbound, Some("app"))));
    assert_eq!(
        visit(&site, &mut jar2.steal(&[SESSION])).proof,
        Some(Proof::Unbound)
    );
}

#[test]
fn an_endpoint_without_an_origin_refuses_before_anything_is_written() {
    let device = Device::es256();
    let site = site();
    let mut jar = Jar::default();
    let challenge = signed_in_offer(&site, &mut jar);
    let cookie = jar.header();
    let proof = device.proof(&challenge, true);
    let head = DbscHead {
        origin: None,
        ..endpoint_head(cookie.as_deref(), Some(&proof))
    };
    assert_eq!(
        dbsc::register(&site.m, &head).unwrap_err().code(),
        "invalid_config"
    );
    // The offer is still there: the same proof registers once the origin is known.
    assert_eq!(register(&site, &mut jar, Some(&proof)).status, 200);
}

#[test]
fn with_dbsc_off_the_endpoints_refuse_and_nothing_is_offered() {
    let site = site_with(None);
    let mut jar = Jar::default();
    let seen = sign_in(&site, &mut jar, "alice");
    assert!(seen.registration().is_none());
    let cookie = jar.header();
    let err =
        dbsc::register(&site.m, &endpoint_head(cookie.as_deref(), Some("a.b.c"))).unwrap_err();
    assert_eq!(err.code(), "invalid_config");
}

#[test]
fn step_up_judges_how_recently_and_how_strongly_the_user_authenticated() {
    let site = site();
    let mut jar = Jar::default();
    request(
        &site,
        &mut jar,
        true,
        Outcome {
            auth: Auth::LoggedIn("alice".into()),
            authn: Some(Authn::new(1, ["pwd"]).unwrap()),
            ..Outcome::default()
        },
    );
    let fresh = |site: &Site, jar: &Jar, max_age: u64, level: u8| {
        begin(site, jar.header().as_deref(), "GET").require_recent(&site.m, max_age, level)
    };
    assert_eq!(fresh(&site, &jar, 5 * MIN, 1), Freshness::Allowed);
    assert_eq!(fresh(&site, &jar, 5 * MIN, 2), Freshness::Level);
    site.advance(5 * MIN);
    assert_eq!(fresh(&site, &jar, 5 * MIN, 1), Freshness::Stale);
    assert_eq!(
        fresh(&Site { ..site_with(None) }, &Jar::default(), 1, 1),
        Freshness::Anonymous
    );
    // Re-authenticating with a second factor: a new token (the old one dead at once), the
    // data kept, the proof recent and strong.
    let old = jar.clone();
    let seen = request(
        &site,
        &mut jar,
        true,
        Outcome {
            auth: Auth::Reauthenticated(Authn::new(2, ["pwd", "otp"]).unwrap()),
            data: Some(serde_json::from_value(json!({"cart": 3})).unwrap()),
            ..Outcome::default()
        },
    );
    assert!(seen.set_cookies().iter().any(|c| c.starts_with(SESSION)));
    assert!(
        site.events()
            .iter()
            .any(|e| e.0 == EventKind::Reauthenticated)
    );
    assert_eq!(fresh(&site, &jar, 5 * MIN, 2), Freshness::Allowed);
    assert_eq!(visit(&site, &mut old.clone()).reason, Some(Reason::Unknown));
    let token = jar.get(SESSION).unwrap().to_owned();
    let info = &site.m.list_user("alice").unwrap()[0];
    let auth = info.authenticated.clone().unwrap();
    assert_eq!((auth.level, auth.amr.len()), (2, 2));
    assert_eq!(auth.at, T0 + 5 * MIN);
    assert_eq!(
        site.m
            .require_recent(&token, MIN, 2, &tessera::Context::HTTPS)
            .unwrap(),
        Freshness::Allowed
    );
    // A pure read: require_recent does not touch the session.
    let seen_at = info.last_seen;
    site.advance(1000);
    site.m
        .require_recent(&token, MIN, 2, &tessera::Context::HTTPS)
        .unwrap();
    assert_eq!(site.m.list_user("alice").unwrap()[0].last_seen, seen_at);
}

#[test]
fn reauthentication_keeps_the_binding_and_refuses_anonymous_sessions() {
    let device = Device::es256();
    let site = site();
    let mut jar = Jar::default();
    bound(&site, &mut jar, "alice", &device);
    let seen = request(
        &site,
        &mut jar,
        true,
        Outcome {
            auth: Auth::Reauthenticated(Authn::new(2, ["hwk"]).unwrap()),
            ..Outcome::default()
        },
    );
    assert!(
        seen.registration().is_none(),
        "still bound: nothing to offer"
    );
    let seen = visit(&site, &mut jar);
    assert_eq!(
        (seen.user.as_deref(), seen.proof),
        (Some("alice"), Some(Proof::Fresh))
    );
    // Anonymous: the eager call refuses, the outcome form does nothing.
    let mut anon = Jar::default();
    request(
        &site,
        &mut anon,
        true,
        Outcome {
            data: Some(serde_json::from_value(json!({"k": 1})).unwrap()),
            ..Outcome::default()
        },
    );
    let cookie = anon.header().unwrap();
    let mut r = begin(&site, Some(&cookie), "POST");
    let err = r.reauthenticate(&site.m, &Authn::default()).unwrap_err();
    assert_eq!(err.code(), "invalid_argument");
}
