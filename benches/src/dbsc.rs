//! The device-bound sessions fixture: a store of 1,000,000 sessions on a manager with DBSC on,
//! some of them bound to a key by the real registration endpoint, and a scripted device that
//! signs proofs as Chrome does.

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
use tessera::{Config, ManualClock, SessionManager};

use crate::STORE_SIZE;

/// The RSA-2048 test key of core's DBSC tests (PKCS#8).
const RSA_2048: &[u8] = include_bytes!("../../core/src/dbsc/testdata/rsa2048.pk8");

/// A browser's key pair.
pub enum Device {
    /// P-256, for ES256.
    Ec(EcdsaKeyPair),
    /// RSA-2048, for RS256.
    Rsa(RsaKeyPair),
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

impl Device {
    /// A fresh P-256 key.
    ///
    /// # Panics
    /// If the OS has no randomness.
    pub fn es256() -> Device {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
            .expect("randomness");
        Device::Ec(
            EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng)
                .expect("a key ring just made"),
        )
    }

    /// The fixed RSA-2048 key.
    ///
    /// # Panics
    /// Never: the key is checked in.
    pub fn rs256() -> Device {
        Device::Rsa(RsaKeyPair::from_pkcs8(RSA_2048).expect("the checked-in key"))
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
                let p = pair.public_key().as_ref();
                json!({"kty": "EC", "crv": "P-256", "x": b64(&p[1..33]), "y": b64(&p[33..65])})
            }
            Device::Rsa(pair) => {
                let c: RsaPublicKeyComponents<Vec<u8>> = pair.public().into();
                json!({"kty": "RSA", "n": b64(&c.n), "e": b64(&c.e)})
            }
        }
    }

    /// A `dbsc+jwt` proof over `jti` (the key in its header for a registration).
    ///
    /// # Panics
    /// If signing fails (no randomness).
    pub fn proof(&self, jti: &str, registration: bool) -> String {
        let mut header = json!({"alg": self.alg(), "typ": "dbsc+jwt"});
        if registration {
            header["jwk"] = self.jwk();
        }
        let input = format!(
            "{}.{}",
            b64(header.to_string().as_bytes()),
            b64(json!({ "jti": jti }).to_string().as_bytes())
        );
        let rng = SystemRandom::new();
        let sig = match self {
            Device::Ec(pair) => pair
                .sign(&rng, input.as_bytes())
                .expect("signing")
                .as_ref()
                .to_vec(),
            Device::Rsa(pair) => {
                let mut sig = vec![0; pair.public().modulus_len()];
                pair.sign(&RSA_PKCS1_SHA256, &rng, input.as_bytes(), &mut sig)
                    .expect("signing");
                sig
            }
        };
        format!("{input}.{}", b64(&sig))
    }
}

/// A session bound to `device`: its two cookies and its binding id.
pub struct BoundSession {
    /// The long-lived session token.
    pub token: String,
    /// The current bound cookie's value.
    pub bound_cookie: String,
    /// The DBSC `session_identifier`.
    pub bid: String,
}

/// The manager and what the DBSC benches cycle through.
pub struct DbscFixture {
    /// DBSC on, manual clock, no rotation, no sweeper.
    pub manager: SessionManager,
    /// Its clock.
    pub clock: ManualClock,
    /// Tokens of unbound signed-in sessions, spread over the store as the bound ones are.
    pub unbound: Vec<String>,
    /// Bound sessions (ES256), spread over the store as the unbound ones are.
    pub bound: Vec<BoundSession>,
}

fn cookie_value<'a>(headers: impl IntoIterator<Item = &'a str>, name: &str) -> Option<String> {
    headers.into_iter().find_map(|line| {
        let pair = line.split(';').next()?;
        let (k, v) = pair.split_once('=')?;
        (k == name && !v.is_empty()).then(|| v.to_owned())
    })
}

fn set_cookies(r: &EndpointResponse) -> impl Iterator<Item = &str> {
    r.headers
        .iter()
        .filter(|(n, _)| *n == "Set-Cookie")
        .map(|(_, v)| v.as_str())
}

/// Sign `user` in over HTTPS and register `device` for the session.
///
/// # Panics
/// If any step does not succeed.
pub fn bind(manager: &SessionManager, user: &str, device: &Device) -> BoundSession {
    let head = RequestHead {
        method: "POST",
        https: true,
        ..RequestHead::default()
    };
    let outcome = Outcome {
        auth: Auth::LoggedIn(user.into()),
        ..Outcome::default()
    };
    let response = http::begin(manager, &head)
        .expect("begin")
        .finish(manager, outcome)
        .expect("finish");
    let token = response.token.as_ref().expect("signed in").expose();
    let offer = response.registration.expect("an offer");
    let at = offer.find("challenge=\"").expect("a challenge") + "challenge=\"".len();
    let challenge = &offer[at..at + offer[at..].find('"').expect("closed")];
    let cookie = format!("__Host-session={token}");
    let proof = device.proof(challenge, true);
    let r = dbsc::register(manager, &endpoint(&cookie, None, Some(&proof))).expect("register");
    assert_eq!(r.status, 200, "{r:?}");
    let body: Value = serde_json::from_str(&r.body).expect("JSON");
    BoundSession {
        bound_cookie: cookie_value(set_cookies(&r), "__Host-session-bound").expect("a cookie"),
        bid: body["session_identifier"]
            .as_str()
            .expect("an id")
            .to_owned(),
        token,
    }
}

/// The head of a DBSC endpoint request.
pub fn endpoint<'a>(cookie: &'a str, bid: Option<&'a str>, proof: Option<&'a str>) -> DbscHead<'a> {
    DbscHead {
        cookie_header: Some(cookie),
        https: true,
        method: "POST",
        origin: Some("https://bench.example"),
        session_id: bid,
        proof,
    }
}

/// A refresh's challenge, asked for as Chrome does (no proof: 403 with the challenge).
///
/// # Panics
/// If the answer is not a challenge.
pub fn challenge(manager: &SessionManager, session: &BoundSession) -> String {
    let cookie = format!("__Host-session={}", session.token);
    let r = dbsc::refresh(manager, &endpoint(&cookie, Some(&session.bid), None)).expect("refresh");
    assert_eq!(r.status, 403, "{r:?}");
    let value = r
        .headers
        .iter()
        .find(|(n, _)| *n == "Secure-Session-Challenge")
        .map(|(_, v)| v.as_str())
        .expect("a challenge");
    value.split('"').nth(1).expect("quoted").to_owned()
}

/// Build the fixture: `STORE_SIZE` sessions, `sample` unbound ones and `sample` bound ones
/// (ES256) kept, the clock then moved past the enforcement grace.
///
/// # Panics
/// If the configuration is refused or a step fails.
pub fn build(sample: usize) -> DbscFixture {
    let clock = ManualClock::default();
    let config = Config {
        rotation_interval: None,
        dbsc: Some(Dbsc::default()),
        ..Config::default()
    };
    let manager = SessionManager::builder(config)
        .clock(clock.clone())
        .sweep_interval(None)
        .build()
        .expect("the bench configuration is valid");
    let device = Device::es256();
    let stride = (STORE_SIZE - 2 * sample) / sample;
    let mut unbound = Vec::with_capacity(sample);
    let mut bound = Vec::with_capacity(sample);
    for i in 0..STORE_SIZE - 2 * sample {
        manager.create(None, None, &crate::CTX).expect("create");
        if i % stride == 0 {
            if unbound.len() < sample {
                let user = format!("unbound-{i}");
                let signed_in = manager
                    .create(Some(&user), None, &crate::CTX)
                    .expect("create");
                unbound.push(signed_in.new_token().expect("a token").expose());
            }
            if bound.len() < sample {
                bound.push(bind(&manager, &format!("user-{i}"), &device));
            }
        }
    }
    // Past the ten seconds in which a request without its bound cookie still passes.
    clock.advance(Duration::from_secs(11));
    DbscFixture {
        manager,
        clock,
        unbound,
        bound,
    }
}
