//! The lifecycle operations of `SessionManager` (create, validate, rotate, login, logout, revoke,
//! data, CSRF), once each: check the JavaScript arguments, then return the work that calls the
//! core. `manager.rs` runs that work now (`…Sync`) or on the thread pool (Promise), so the two
//! forms cannot drift apart.

use std::sync::Arc;

use napi::bindgen_prelude::Unknown;
use tessera::{DataOp, SessionId};

use crate::Core;
use crate::args::{self, MAX_SHORT};
use crate::dbsc;
use crate::errors::{Fail, Outcome};
use crate::session::{Data, SessionListing, SessionResult};
use crate::task::{self, Settler, Work};

/// `{ https?, userAgent?, boundCookie? }`, owned so it can travel to the thread pool.
#[derive(Default)]
pub struct Ctx {
    https: bool,
    user_agent: Option<String>,
    /// The bound cookie the request carries (device-bound sessions), as the core compares it.
    bound: tessera::Presented,
}

impl Ctx {
    /// Read the optional context argument.
    pub fn parse(value: Option<Unknown>) -> Outcome<Ctx> {
        let Some(obj) = args::opt_object(value, "context")? else {
            return Ok(Ctx::default());
        };
        Ok(Ctx {
            https: args::opt_bool(args::prop(&obj, "https")?, "context.https", false)?,
            user_agent: args::opt_string(
                args::prop(&obj, "userAgent")?,
                "context.userAgent",
                MAX_SHORT,
            )?,
            bound: match args::opt_string(
                args::prop(&obj, "boundCookie")?,
                "context.boundCookie",
                MAX_SHORT,
            )? {
                Some(value) => tessera::Presented::from_values(std::iter::once(value.as_str())),
                None => tessera::Presented::Absent,
            },
        })
    }

    fn core(&self) -> tessera::Context<'_> {
        tessera::Context {
            https: self.https,
            user_agent: self.user_agent.as_deref(),
            bound: self.bound,
            fields: tessera::Fields::ALL,
        }
    }
}

fn token(value: Option<Unknown>) -> Outcome<String> {
    args::string(value, "token", MAX_SHORT)
}

fn user(value: Option<Unknown>) -> Outcome<String> {
    args::string(value, "user", MAX_SHORT)
}

fn id(value: Option<Unknown>) -> Outcome<SessionId> {
    let text = args::string(value, "id", MAX_SHORT)?;
    Ok(SessionId::parse_hex(&text)?)
}

fn key(value: Option<Unknown>) -> Outcome<String> {
    args::string(value, "key", MAX_SHORT)
}

fn count(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

fn work<T>(f: impl FnOnce() -> Outcome<T> + Send + 'static) -> Outcome<Work<T>> {
    Ok(Box::new(f))
}

pub fn create(
    m: &Core,
    user: Option<Unknown>,
    data: Option<Unknown>,
    context: Option<Unknown>,
) -> Outcome<Work<SessionResult>> {
    let user = args::opt_string(user, "user", MAX_SHORT)?;
    let data = args::opt_data(data, "data")?;
    let ctx = Ctx::parse(context)?;
    let m = Arc::clone(m);
    work(move || {
        let s = m.create(user.as_deref(), data, &ctx.core())?;
        Ok(SessionResult::valid(&m, &s))
    })
}

pub fn validate(
    m: &Core,
    token_arg: Option<Unknown>,
    context: Option<Unknown>,
) -> Outcome<Work<SessionResult>> {
    let token = token(token_arg)?;
    let ctx = Ctx::parse(context)?;
    let m = Arc::clone(m);
    work(move || {
        Ok(SessionResult::from_validation(
            &m,
            &m.validate(&token, &ctx.core())?,
        ))
    })
}

/// [`validate`] on a networked store, settling `settler`: a live session that needs no write
/// is settled on the store's I/O thread by one read; anything else by the blocking `validate`
/// on the store's pool (see `tessera::SessionManager::validate_then`).
pub fn validate_then(m: &Core, (token, ctx): (String, Ctx), settler: Settler<SessionResult>) {
    let m = Arc::clone(m);
    let https = ctx.https;
    // validate_then copies the token; the fallback needs its own.
    let looked_up = token.clone();
    Arc::clone(&m).validate_then(&looked_up, https, move |found| match found {
        Some(found) => {
            settler.run(|| Ok(SessionResult::from_validation(&m, &found.into_validation())))
        }
        None => {
            let pool = Arc::clone(&m);
            let work = move || {
                let validation = m.validate(&token, &ctx.core())?;
                Ok(SessionResult::from_validation(&m, &validation))
            };
            task::offload(&pool, settler, Box::new(work));
        }
    });
}

/// The arguments of `validate`, checked.
pub fn validate_args(
    token_arg: Option<Unknown>,
    context: Option<Unknown>,
) -> Outcome<(String, Ctx)> {
    Ok((token(token_arg)?, Ctx::parse(context)?))
}

pub fn rotate(
    m: &Core,
    token_arg: Option<Unknown>,
    context: Option<Unknown>,
) -> Outcome<Work<SessionResult>> {
    let token = token(token_arg)?;
    let ctx = Ctx::parse(context)?;
    let m = Arc::clone(m);
    work(move || {
        Ok(SessionResult::from_validation(
            &m,
            &m.rotate(&token, &ctx.core())?,
        ))
    })
}

pub fn login(
    m: &Core,
    token_arg: Option<Unknown>,
    user_arg: Option<Unknown>,
    context: Option<Unknown>,
    authn: Option<Unknown>,
) -> Outcome<Work<SessionResult>> {
    let token = args::opt_string(token_arg, "token", MAX_SHORT)?;
    let user = user(user_arg)?;
    let ctx = Ctx::parse(context)?;
    let authn = dbsc::opt_authn(authn, "authn")?;
    let m = Arc::clone(m);
    work(move || {
        let s = m.login_with(token.as_deref(), &user, &authn, &ctx.core())?;
        Ok(SessionResult::valid(&m, &s))
    })
}

pub fn reauthenticate(
    m: &Core,
    token_arg: Option<Unknown>,
    authn: Option<Unknown>,
    context: Option<Unknown>,
) -> Outcome<Work<SessionResult>> {
    let token = token(token_arg)?;
    let authn = dbsc::opt_authn(authn, "authn")?;
    let ctx = Ctx::parse(context)?;
    let m = Arc::clone(m);
    work(move || {
        let v = m.reauthenticate(&token, &authn, &ctx.core())?;
        Ok(SessionResult::from_validation(&m, &v))
    })
}

/// A step-up level: a whole number from 0 to 255 (`undefined`: 1, any sign-in).
fn level(value: Option<Unknown>) -> Outcome<u8> {
    let Some(v) = value.filter(|v| !args::is_nullish(Some(v))) else {
        return Ok(1);
    };
    if v.get_type().ok() != Some(napi::ValueType::Number) {
        return Err(Fail::Type(format!(
            "minLevel must be a number, got {}",
            args::describe(&v)
        )));
    }
    let n = <f64 as napi::bindgen_prelude::FromNapiValue>::from_unknown(v)
        .map_err(|e| Fail::Type(format!("minLevel: {}", e.reason)))?;
    args::whole(n)
        .and_then(|n| u8::try_from(n).ok())
        .ok_or_else(|| {
            Fail::Range(format!(
                "minLevel must be a whole number from 0 to 255, got {n}"
            ))
        })
}

pub fn require_recent(
    m: &Core,
    token_arg: Option<Unknown>,
    max_age: Option<Unknown>,
    min_level: Option<Unknown>,
    context: Option<Unknown>,
) -> Outcome<Work<String>> {
    let token = token(token_arg)?;
    let max_age = args::millis(max_age, "maxAgeMs")?;
    let min_level = level(min_level)?;
    let ctx = Ctx::parse(context)?;
    let m = Arc::clone(m);
    work(move || {
        let f = m.require_recent(&token, max_age, min_level, &ctx.core())?;
        Ok(f.code().to_owned())
    })
}

/// The `Secure-Session-Registration` value to send, or `None` (nothing to offer).
pub fn offer_binding(
    m: &Core,
    token_arg: Option<Unknown>,
    context: Option<Unknown>,
) -> Outcome<Work<Option<String>>> {
    let token = token(token_arg)?;
    let ctx = Ctx::parse(context)?;
    let m = Arc::clone(m);
    work(move || {
        let challenge = m.offer_binding(&token, &ctx.core())?;
        Ok(challenge.and_then(|c| dbsc::registration_header(&m, &c)))
    })
}

pub fn unbind(m: &Core, id_arg: Option<Unknown>) -> Outcome<Work<bool>> {
    let id = id(id_arg)?;
    let m = Arc::clone(m);
    work(move || Ok(m.unbind(&id)?))
}

pub fn dbsc_endpoint(
    m: &Core,
    endpoint: dbsc::Endpoint,
    request: Option<Unknown>,
) -> Outcome<Work<dbsc::DbscResponse>> {
    let head = dbsc::Head::parse(request)?;
    let m = Arc::clone(m);
    work(move || endpoint.answer(&m, &head))
}

pub fn logout(m: &Core, token_arg: Option<Unknown>) -> Outcome<Work<bool>> {
    let token = token(token_arg)?;
    let m = Arc::clone(m);
    work(move || Ok(m.logout(&token)?))
}

pub fn revoke(m: &Core, id_arg: Option<Unknown>) -> Outcome<Work<bool>> {
    let id = id(id_arg)?;
    let m = Arc::clone(m);
    work(move || Ok(m.revoke(&id)?))
}

pub fn revoke_user(m: &Core, user_arg: Option<Unknown>) -> Outcome<Work<u32>> {
    let user = user(user_arg)?;
    let m = Arc::clone(m);
    work(move || Ok(count(m.revoke_user(&user)?)))
}

pub fn revoke_user_except(
    m: &Core,
    user_arg: Option<Unknown>,
    token_arg: Option<Unknown>,
) -> Outcome<Work<u32>> {
    let user = user(user_arg)?;
    let token = token(token_arg)?;
    let m = Arc::clone(m);
    work(move || Ok(count(m.revoke_user_except(&user, &token)?)))
}

pub fn revoke_all(m: &Core) -> Outcome<Work<u32>> {
    let m = Arc::clone(m);
    work(move || Ok(count(m.revoke_all()?)))
}

pub fn list_user(m: &Core, user_arg: Option<Unknown>) -> Outcome<Work<Vec<SessionListing>>> {
    let user = user(user_arg)?;
    let m = Arc::clone(m);
    work(move || Ok(m.list_user(&user)?.iter().map(Into::into).collect()))
}

pub fn set(
    m: &Core,
    id_arg: Option<Unknown>,
    key_arg: Option<Unknown>,
    value: Unknown,
) -> Outcome<Work<()>> {
    let id = id(id_arg)?;
    let key = key(key_arg)?;
    // Not an `Option`: napi-rs would read `null` (a fine JSON value) as absent.
    let value = args::json(Some(value), "value")?;
    let m = Arc::clone(m);
    work(move || Ok(m.set(&id, &key, value)?))
}

pub fn remove_key(
    m: &Core,
    id_arg: Option<Unknown>,
    key_arg: Option<Unknown>,
) -> Outcome<Work<()>> {
    let id = id(id_arg)?;
    let key = key(key_arg)?;
    let m = Arc::clone(m);
    work(move || Ok(m.remove_key(&id, &key)?))
}

pub fn replace_data(m: &Core, id_arg: Option<Unknown>, data: Option<Unknown>) -> Outcome<Work<()>> {
    let id = id(id_arg)?;
    let Some(data) = args::opt_data(data, "data")? else {
        return Err(Fail::Type(
            "data must be a plain object, got undefined".to_owned(),
        ));
    };
    let m = Arc::clone(m);
    work(move || Ok(m.replace_data(&id, data)?))
}

/// Several per-key changes in one store call: remove the keys of `remove` (an array) and set
/// those of `set` (an object), atomically (`DataOp::Patch`): all of them or none.
pub fn update_data(
    m: &Core,
    id_arg: Option<Unknown>,
    set_arg: Option<Unknown>,
    remove_arg: Option<Unknown>,
) -> Outcome<Work<Data>> {
    let id = id(id_arg)?;
    let set = args::opt_data(set_arg, "set")?.unwrap_or_default();
    let remove = args::opt_strings(remove_arg, "remove")?;
    let m = Arc::clone(m);
    work(move || {
        let data = m.update_data(&id, DataOp::Patch(set, remove))?;
        Ok(Data((!data.is_empty()).then(|| Arc::new(data))))
    })
}

pub fn csrf_token(m: &Core, token_arg: Option<Unknown>) -> Outcome<Work<String>> {
    let token = token(token_arg)?;
    let m = Arc::clone(m);
    work(move || Ok(m.csrf_token(&token)?))
}

pub fn verify_csrf(
    m: &Core,
    token_arg: Option<Unknown>,
    candidate: Option<Unknown>,
) -> Outcome<Work<bool>> {
    let token = token(token_arg)?;
    let candidate = args::string(candidate, "candidate", MAX_SHORT)?;
    let m = Arc::clone(m);
    work(move || Ok(m.verify_csrf(&token, &candidate)?))
}

pub fn sweep(m: &Core) -> Outcome<Work<u32>> {
    let m = Arc::clone(m);
    work(move || Ok(count(m.sweep()?)))
}

pub fn store_len(m: &Core) -> Outcome<Work<u32>> {
    let m = Arc::clone(m);
    work(move || Ok(count(m.store_len()?)))
}
