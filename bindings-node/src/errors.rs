//! Errors crossing into JavaScript, and the panic boundary every export goes through.
//!
//! A failure is one of three things ([`Fail`]): bad input from JavaScript (a `TypeError` or a
//! `RangeError`), a Tessera error (an `Error` subclass whose `code` is the core's stable code:
//! `invalid_config`, …, or a rejection reason for a write to an ended session), or a panic, which
//! is caught and reported as `internal` instead of aborting the process.
//!
//! The JavaScript classes live in `lib/errors.js`; `index.js` hands their factory to
//! [`set_error_factory`] once per environment. Without it (the addon loaded on its own) errors
//! are plain `Error`s that still carry the `code`.

use std::cell::RefCell;
use std::panic::{AssertUnwindSafe, catch_unwind};

use napi::bindgen_prelude::{FnArgs, Function, FunctionRef, Unknown};
use napi::{Env, Status};
use napi_derive::napi;

/// Why an operation failed, before it becomes a JavaScript exception.
#[derive(Debug)]
pub enum Fail {
    /// An argument of the wrong type (`TypeError`, code `ERR_INVALID_ARG_TYPE`).
    Type(String),
    /// An argument out of range, e.g. a string too long to be real (`RangeError`,
    /// code `ERR_OUT_OF_RANGE`).
    Range(String),
    /// A Tessera error, reported with its stable code.
    Core(tessera::Error),
}

impl From<tessera::Error> for Fail {
    fn from(e: tessera::Error) -> Self {
        Fail::Core(e)
    }
}

/// Result of the binding's own functions.
pub type Outcome<T> = std::result::Result<T, Fail>;

impl Fail {
    /// `(code, message)` as JavaScript sees them.
    fn parts(&self) -> (&str, String) {
        match self {
            Fail::Type(m) => ("ERR_INVALID_ARG_TYPE", m.clone()),
            Fail::Range(m) => ("ERR_OUT_OF_RANGE", m.clone()),
            Fail::Core(e) => (e.code(), e.message().to_owned()),
        }
    }

    /// The JavaScript exception for this failure, as a napi error that rethrows it.
    pub fn into_napi(self, env: &Env) -> napi::Error {
        let (code, message) = self.parts();
        let made = FACTORY.with(|f| {
            let f = f.borrow();
            let factory = f.as_ref()?;
            let func = factory.borrow_back(env).ok()?;
            func.call((code.to_owned(), message.clone()).into()).ok()
        });
        match made {
            Some(error) => napi::Error::from(error),
            None => napi::Error::new(Status::GenericFailure, format!("{code}: {message}")),
        }
    }
}

/// `(code, message) => Error`, from `lib/errors.js`.
type Factory = FunctionRef<FnArgs<(String, String)>, Unknown<'static>>;

thread_local! {
    // One per JavaScript thread (the main thread and each worker have their own environment).
    static FACTORY: RefCell<Option<Factory>> = const { RefCell::new(None) };
}

/// Register `factory(code, message) → Error`, which builds the exception for a failure
/// (`lib/errors.js`). Called once by `index.js`.
#[napi(js_name = "__setErrorFactory")]
pub fn set_error_factory(
    factory: Function<FnArgs<(String, String)>, Unknown<'static>>,
) -> napi::Result<()> {
    let r = factory.create_ref()?;
    FACTORY.with(|f| *f.borrow_mut() = Some(r));
    Ok(())
}

/// Run `f`, turning a panic into an `internal` error: nothing a caller passes may abort Node.
pub fn guard<T>(f: impl FnOnce() -> Outcome<T>) -> Outcome<T> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".to_owned());
            Err(Fail::Core(tessera::Error::internal(format!(
                "tessera-node caught a panic: {what}"
            ))))
        }
    }
}

/// [`guard`], then convert a failure into the JavaScript exception.
pub fn run<T>(env: &Env, f: impl FnOnce() -> Outcome<T>) -> napi::Result<T> {
    guard(f).map_err(|fail| fail.into_napi(env))
}
