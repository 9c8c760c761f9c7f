//! The middleware's per-request path: one cheap boundary crossing per request.
//!
//! A napi-rs class method pays for unwrapping and type-tag checking `this` (~200 ns here), and
//! a result object built property by property pays a string internalization and a map
//! transition per field. So `expressSession()` calls free functions that take an opaque
//! handle of the manager (an `External`, fetched once per middleware) and plain arguments, and
//! get back **one string** in the compact format below, which `lib/fast.js` takes apart with
//! `indexOf`/`slice`. The session's data travels as the JSON text the core serializes, parsed in
//! JavaScript only if the request reads `req.session`.
//!
//! # Compact result of [`request_sync`] / [`request_async`]
//!
//! | first character | meaning | rest |
//! |---|---|---|
//! | `A` | no session cookie | nothing |
//! | `R` | a cookie, but no session: clear it | the reason code (`malformed` for two cookies) |
//! | `V` | a live session | see below |
//!
//! After `V`: one character for the CSRF verdict (`-` not checked, `0` bad, `1` good), then
//! newline-terminated fields — `expiresAt` (ms, decimal), the token the client holds now, the
//! public id, the `Set-Cookie` value (empty unless the token was rotated), a fresh CSRF token
//! (empty unless asked for), the user's length in UTF-16 code units (`-` for no user) — then
//! the user itself and, to the end of the string, the data as compact JSON (empty for `{}`).
//! Only the user can contain a newline, hence its length prefix; JSON text has none.
//!
//! Saving uses [`save_sync`] / [`save_async`]: the changed keys as JSON text and the removed
//! keys, in one `DataOp::Patch` — one store call, atomic.

use std::sync::Arc;

use napi::bindgen_prelude::{AsyncTask, External, ToNapiValue, TypeName, Unknown};
use napi::{Env, ValueType, sys};
use napi_derive::napi;
use serde_json::Value;
use tessera::{CookieToken, DataOp, Validation};

use crate::args::{self, MAX_SHORT};
use crate::errors::{Fail, Outcome, guard};
use crate::events;
use crate::ops::Core;
use crate::task::{self, Job, Work};

/// What the fast functions address: the core manager behind a `SessionManager`.
pub type Handle = External<Core>;

/// The handle of `manager`, for the free functions below.
pub fn handle(core: &Core) -> Handle {
    External::new(Arc::clone(core))
}

/// A compact result on its way to JavaScript: bytes that are UTF-8, created as a Latin-1
/// string when they are all ASCII (no decoding pass in V8).
pub struct Compact(Vec<u8>);

impl TypeName for Compact {
    fn type_name() -> &'static str {
        "string"
    }

    fn value_type() -> ValueType {
        ValueType::String
    }
}

impl ToNapiValue for Compact {
    unsafe fn to_napi_value(env: sys::napi_env, val: Self) -> napi::Result<sys::napi_value> {
        let mut out = std::ptr::null_mut();
        let bytes = val.0;
        // SAFETY: `env` is the live environment napi-rs passes to every conversion; the pointer
        // and length describe `bytes`, which outlives the call (V8 copies it).
        let status = unsafe {
            if bytes.is_ascii() {
                sys::napi_create_string_latin1(
                    env,
                    bytes.as_ptr().cast(),
                    bytes.len() as isize,
                    &mut out,
                )
            } else {
                sys::napi_create_string_utf8(
                    env,
                    bytes.as_ptr().cast(),
                    bytes.len() as isize,
                    &mut out,
                )
            }
        };
        if status != sys::Status::napi_ok {
            return Err(napi::Error::new(
                napi::Status::GenericFailure,
                "tessera: could not create a string",
            ));
        }
        Ok(out)
    }
}

/// The checked arguments of a request call, owned so they can travel to the thread pool.
pub struct RequestArgs {
    header: Option<String>,
    https: bool,
    csrf: Option<String>,
    mint_csrf: bool,
}

impl RequestArgs {
    fn parse(
        header: Option<Unknown>,
        https: Option<Unknown>,
        csrf: Option<Unknown>,
        mint_csrf: Option<Unknown>,
    ) -> Outcome<Self> {
        Ok(RequestArgs {
            header: args::opt_string(header, "cookieHeader", MAX_SHORT)?,
            https: args::opt_bool(https, "https", false)?,
            csrf: args::opt_string(csrf, "csrf", MAX_SHORT)?,
            mint_csrf: args::opt_bool(mint_csrf, "mintCsrf", false)?,
        })
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";

fn push_hex(out: &mut Vec<u8>, bytes: &[u8]) {
    for b in bytes {
        out.push(HEX[usize::from(b >> 4)]);
        out.push(HEX[usize::from(b & 0x0f)]);
    }
}

/// A session id as 64 lowercase hex digits, as `SessionId`'s `Display` writes it, without
/// the formatting machinery (a tenth of the cost).
pub fn id_hex(id: &tessera::SessionId) -> String {
    let mut out = Vec::with_capacity(64);
    push_hex(&mut out, id.as_bytes());
    // Hex digits are ASCII.
    String::from_utf8(out).unwrap_or_default()
}

fn push_decimal(out: &mut Vec<u8>, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        // `n % 10` < 10: the cast is exact.
        #[allow(clippy::cast_possible_truncation)]
        {
            digits[i] = b'0' + (n % 10) as u8;
        }
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[i..]);
}

/// Length of `s` in UTF-16 code units (what JavaScript's `slice` counts).
fn utf16_len(s: &str) -> usize {
    if s.is_ascii() {
        s.len()
    } else {
        s.encode_utf16().count()
    }
}

/// Validate the request's session and describe it in the compact format.
pub fn request(m: &tessera::SessionManager, a: &RequestArgs) -> Outcome<Compact> {
    let found = a
        .header
        .as_deref()
        .map_or(CookieToken::Absent, |h| m.token_from_cookie_header(h));
    let token = match found {
        CookieToken::Absent => return Ok(Compact(b"A".to_vec())),
        CookieToken::Ambiguous => return Ok(Compact(b"Rmalformed".to_vec())),
        CookieToken::One(token) => token,
    };
    let ctx = tessera::Context {
        https: a.https,
        user_agent: None,
    };
    let s = match m.validate(token, &ctx)? {
        Validation::Valid(s) => s,
        Validation::Rejected(reason) => {
            let mut out = Vec::with_capacity(20);
            out.push(b'R');
            out.extend_from_slice(reason.code().as_bytes());
            return Ok(Compact(out));
        }
    };
    let data = s.data_shared();
    let user = s.user();
    let mut out =
        Vec::with_capacity(160 + user.map_or(0, str::len) + if data.is_some() { 64 } else { 0 });
    out.push(b'V');
    out.push(match a.csrf.as_deref() {
        None => b'-',
        Some(c) if s.verify_csrf(c) => b'1',
        Some(_) => b'0',
    });
    push_decimal(&mut out, s.expires_at());
    out.push(b'\n');
    match s.new_token() {
        Some(t) => {
            let mut buf = [0u8; tessera::token::TOKEN_LEN];
            t.encode_into(&mut buf);
            out.extend_from_slice(&buf);
        }
        None => out.extend_from_slice(token.as_bytes()),
    }
    out.push(b'\n');
    push_hex(&mut out, s.id().as_bytes());
    out.push(b'\n');
    if let Some(t) = s.new_token() {
        out.extend_from_slice(m.set_cookie(t).as_bytes());
    }
    out.push(b'\n');
    if a.mint_csrf {
        out.extend_from_slice(s.csrf_token()?.as_bytes());
    }
    out.push(b'\n');
    match user {
        Some(u) => push_decimal(&mut out, utf16_len(u) as u64),
        None => out.push(b'-'),
    }
    out.push(b'\n');
    if let Some(u) = user {
        out.extend_from_slice(u.as_bytes());
    }
    if let Some(d) = data {
        // Serializing a JSON map into a Vec cannot fail.
        let _ = serde_json::to_writer(&mut out, &**d);
    }
    Ok(Compact(out))
}

fn core_of(handle: &Handle) -> &Core {
    handle
}

/// `expressSession()`'s one call per request, for in-process stores: read the session cookie
/// from `cookieHeader`, validate it (rotating on the core's schedule), verify `csrf` if given.
/// Returns the compact format described in `src/fast.rs` (taken apart by `lib/fast.js`).
#[napi(
    js_name = "__requestSync",
    ts_args_type = "handle: ExternalObject<unknown>, cookieHeader: string | undefined, https: boolean, csrf: string | undefined",
    ts_return_type = "string"
)]
pub fn request_sync(
    env: Env,
    handle: &Handle,
    header: Option<Unknown>,
    https: Option<Unknown>,
    csrf: Option<Unknown>,
) -> napi::Result<Compact> {
    let m = core_of(handle);
    if m.store_is_networked() {
        return Err(Fail::Core(tessera::Error::invalid_argument(
            "synchronous calls need an in-process store (memory://)",
        ))
        .into_napi(&env));
    }
    let (result, captured) = events::capture(|| {
        guard(|| {
            let a = RequestArgs::parse(header, https, csrf, None)?;
            request(m, &a)
        })
    });
    events::deliver(&env, captured);
    result.map_err(|fail| fail.into_napi(&env))
}

/// `__requestSync` as a Promise whose work runs on the libuv pool (any store); `mintCsrf`
/// asks for a fresh CSRF token with the session.
#[napi(
    js_name = "__request",
    ts_args_type = "handle: ExternalObject<unknown>, cookieHeader: string | undefined, https: boolean, csrf: string | undefined, mintCsrf: boolean",
    ts_return_type = "Promise<string>"
)]
pub fn request_async(
    env: Env,
    handle: &Handle,
    header: Option<Unknown>,
    https: Option<Unknown>,
    csrf: Option<Unknown>,
    mint_csrf: Option<Unknown>,
) -> napi::Result<AsyncTask<Job<Compact>>> {
    let m = Arc::clone(core_of(handle));
    task::spawn(&env, || {
        let a = RequestArgs::parse(header, https, csrf, mint_csrf)?;
        Ok(Box::new(move || request(&m, &a)) as Work<_>)
    })
}

/// The checked arguments of a save.
fn patch(
    id: Option<Unknown>,
    set_json: Option<Unknown>,
    remove: Option<Unknown>,
) -> Outcome<(tessera::SessionId, DataOp)> {
    let id = tessera::SessionId::parse_hex(&args::string(id, "id", MAX_SHORT)?)?;
    let set = match args::opt_string(set_json, "set", usize::MAX)? {
        None => tessera::Data::new(),
        Some(text) => match serde_json::from_str::<Value>(&text) {
            Ok(Value::Object(map)) => map,
            _ => {
                return Err(Fail::Type(
                    "set must be the JSON text of an object".to_owned(),
                ));
            }
        },
    };
    let remove = args::opt_strings(remove, "remove")?;
    Ok((id, DataOp::Patch(set, remove)))
}

/// Save the changed keys of session `id` in one store call (`DataOp::Patch`): `setJson` is the
/// JSON text of an object of keys to set, `remove` the keys to delete. In-process stores only.
#[napi(
    js_name = "__saveSync",
    ts_args_type = "handle: ExternalObject<unknown>, id: string, setJson: string | null, remove: string[] | null"
)]
pub fn save_sync(
    env: Env,
    handle: &Handle,
    id: Option<Unknown>,
    set_json: Option<Unknown>,
    remove: Option<Unknown>,
) -> napi::Result<()> {
    let m = Arc::clone(core_of(handle));
    if m.store_is_networked() {
        return Err(Fail::Core(tessera::Error::invalid_argument(
            "synchronous calls need an in-process store (memory://)",
        ))
        .into_napi(&env));
    }
    task::now(&env, || {
        let (id, op) = patch(id, set_json, remove)?;
        Ok(Box::new(move || m.update_data(&id, op).map(drop).map_err(Fail::from)) as Work<_>)
    })
}

/// `__saveSync` as a Promise (any store).
#[napi(
    js_name = "__save",
    ts_args_type = "handle: ExternalObject<unknown>, id: string, setJson: string | null, remove: string[] | null",
    ts_return_type = "Promise<void>"
)]
pub fn save_async(
    env: Env,
    handle: &Handle,
    id: Option<Unknown>,
    set_json: Option<Unknown>,
    remove: Option<Unknown>,
) -> napi::Result<AsyncTask<Job<()>>> {
    let m = Arc::clone(core_of(handle));
    task::spawn(&env, || {
        let (id, op) = patch(id, set_json, remove)?;
        Ok(Box::new(move || m.update_data(&id, op).map(drop).map_err(Fail::from)) as Work<_>)
    })
}
