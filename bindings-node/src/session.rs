//! Session results as JavaScript sees them: plain objects with camelCase fields, built from the
//! core's types. Data is the core's JSON object, converted once, when the object is handed over.

use std::sync::Arc;

use napi::bindgen_prelude::{Object, ToNapiValue, TypeName};
use napi::{Env, ValueType, sys};
use napi_derive::napi;
use serde_json::Map;

use crate::clock::millis_to_js;
use crate::dbsc::Authenticated;

/// Session data on its way to JavaScript: shared with the core's record (no copy until the
/// conversion itself); `None` is the empty object.
pub struct Data(pub Option<Arc<tessera::Data>>);

impl TypeName for Data {
    fn type_name() -> &'static str {
        "Record<string, unknown>"
    }

    fn value_type() -> ValueType {
        ValueType::Object
    }
}

impl ToNapiValue for Data {
    unsafe fn to_napi_value(env: sys::napi_env, val: Self) -> napi::Result<sys::napi_value> {
        match &val.0 {
            // SAFETY: `env` is the live environment napi-rs passes to every conversion.
            Some(data) => unsafe { <&Map<_, _>>::to_napi_value(env, data) },
            None => {
                let obj = Object::new(&Env::from(env))?;
                // SAFETY: as above; the object was just created in this environment.
                unsafe { Object::to_napi_value(env, obj) }
            }
        }
    }
}

/// The outcome of `create`, `login`, `rotate` and `validate`: a session, or why there is none.
#[napi(object, object_from_js = false)]
pub struct SessionResult {
    /// Whether the token was good (always `true` for `create` and `login`).
    pub valid: bool,
    /// Why not: `malformed`, `unknown`, `expired_idle`, `expired_absolute`, or
    /// `binding_missing` (a device-bound session whose request carries no current bound cookie:
    /// the session lives on, its owner's browser can still prove it).
    #[napi(
        ts_type = "'malformed' | 'unknown' | 'expired_idle' | 'expired_absolute' | 'binding_missing'"
    )]
    pub reason: Option<String>,
    /// The session's public id (64 hex digits): safe to log, list or revoke by.
    pub id: Option<String>,
    /// The signed-in user, if any.
    pub user: Option<String>,
    /// The session's data.
    #[napi(ts_type = "Record<string, unknown>")]
    pub data: Option<Data>,
    /// The token the client must hold from now on, if it changed in this call (creation,
    /// login, rotation). Send it with `setCookie`.
    pub new_token: Option<String>,
    /// The `Set-Cookie` header value that hands `newToken` to the browser.
    pub set_cookie: Option<String>,
    /// When it was created (or last logged in), ms since the epoch.
    pub created_at: Option<f64>,
    /// When it was last seen.
    pub last_seen: Option<f64>,
    /// When it ends if unused: `lastSeen + idleTimeout`, or the absolute deadline if sooner.
    pub expires_at: Option<f64>,
    /// When it ends however active it is.
    pub absolute_deadline: Option<f64>,
    /// Whether its token has only travelled over HTTPS.
    pub secure: Option<bool>,
    /// How the request proved the session's device: `unbound` (not device-bound), `pending`
    /// (bound moments ago), `fresh` (a current bound cookie).
    #[napi(ts_type = "'unbound' | 'pending' | 'fresh'")]
    pub binding: Option<String>,
    /// When and how strongly its user last authenticated; `null` while anonymous.
    pub authenticated: Option<Authenticated>,
    /// The `Secure-Session-Registration` value to send with this response, when the call
    /// offered the browser a device binding (a sign-in over HTTPS with `dbsc` on).
    pub registration: Option<String>,
}

impl SessionResult {
    /// A session from the core (`set_cookie` built from its new token, if any).
    pub fn valid(manager: &tessera::SessionManager, s: &tessera::Session) -> Self {
        SessionResult {
            valid: true,
            reason: None,
            id: Some(crate::compact::id_hex(s.id())),
            user: s.user().map(str::to_owned),
            data: Some(Data(s.data_shared().cloned())),
            new_token: s.new_token().map(tessera::Token::expose),
            set_cookie: s.new_token().map(|t| manager.set_cookie(t)),
            created_at: Some(millis_to_js(s.created_at())),
            last_seen: Some(millis_to_js(s.last_seen())),
            expires_at: Some(millis_to_js(s.expires_at())),
            absolute_deadline: Some(millis_to_js(s.absolute_deadline())),
            secure: Some(s.secure()),
            binding: Some(s.proof().code().to_owned()),
            authenticated: s.authenticated().map(Into::into),
            registration: s
                .offered_challenge()
                .and_then(|c| crate::dbsc::registration_header(manager, c)),
        }
    }

    /// No session, for `reason`.
    pub fn rejected(reason: tessera::Reason) -> Self {
        SessionResult {
            valid: false,
            reason: Some(reason.code().to_owned()),
            id: None,
            user: None,
            data: None,
            new_token: None,
            set_cookie: None,
            created_at: None,
            last_seen: None,
            expires_at: None,
            absolute_deadline: None,
            secure: None,
            binding: None,
            authenticated: None,
            registration: None,
        }
    }

    /// From a validation.
    pub fn from_validation(manager: &tessera::SessionManager, v: &tessera::Validation) -> Self {
        match v {
            tessera::Validation::Valid(s) => Self::valid(manager, s),
            tessera::Validation::Rejected(r) => Self::rejected(*r),
        }
    }
}

/// Public information about one of a user's sessions ("your devices"). Never a token.
#[napi(object, object_from_js = false)]
pub struct SessionListing {
    /// The session's public id: give it to `revoke` to end it.
    pub id: String,
    /// When it was created or last logged in.
    pub created_at: f64,
    /// When it was last seen.
    pub last_seen: f64,
    /// When it ends if unused.
    pub expires_at: f64,
    /// Its absolute deadline.
    pub absolute_deadline: f64,
    /// The user agent recorded at creation or login.
    pub user_agent: Option<String>,
    /// Whether it has only used HTTPS.
    pub secure: bool,
    /// When and how strongly its user last authenticated.
    pub authenticated: Option<Authenticated>,
    /// Whether it is bound to a device (DBSC).
    pub bound: bool,
    /// When it was bound, if it is.
    pub bound_at: Option<f64>,
    /// The bound key's RFC 7638 thumbprint (base64url), if it is bound: the same device keeps
    /// the same thumbprint.
    pub key_thumbprint: Option<String>,
}

impl From<&tessera::SessionInfo> for SessionListing {
    fn from(i: &tessera::SessionInfo) -> Self {
        SessionListing {
            id: crate::compact::id_hex(&i.id),
            created_at: millis_to_js(i.created_at),
            last_seen: millis_to_js(i.last_seen),
            expires_at: millis_to_js(i.expires_at),
            absolute_deadline: millis_to_js(i.absolute_deadline),
            user_agent: i.user_agent.clone(),
            secure: i.secure,
            authenticated: i.authenticated.clone().map(Into::into),
            bound: i.bound_at.is_some(),
            bound_at: i.bound_at.map(millis_to_js),
            key_thumbprint: i.key_thumbprint.clone(),
        }
    }
}

/// What a `Cookie` header says about the session cookie.
#[napi(object, object_from_js = false)]
pub struct CookieLookup {
    /// `absent`, `one` or `ambiguous` (two or more cookies of the session's name: treat as no
    /// session, and clear the cookie).
    #[napi(ts_type = "'absent' | 'one' | 'ambiguous'")]
    pub state: String,
    /// The cookie's value when there is exactly one.
    pub token: Option<String>,
}
