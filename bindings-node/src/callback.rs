//! N-API callbacks written by hand, for the calls every request makes (`lib/request.js`: begin
//! and finish, and the steps an app takes in between).
//!
//! A `#[napi]` function pays napi-rs's per-call machinery before and after the work: a
//! native-borrow scope (a shared, locked storage), a barrier, a deferred-scope guard, a type
//! query per optional argument. Measured with callgrind, that is ~2,500 instructions per call,
//! more than the whole work of an anonymous request's begin or finish. A callback here reads its
//! arguments with one `napi_get_cb_info`, unwraps its request handle with `crate::handles` (a
//! value that is not one of this addon's handles is refused, never dereferenced), and keeps the boundary every export has: a panic becomes an `internal` error, and a failure
//! the same JavaScript exception `crate::errors` throws everywhere else.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::ptr;

use napi::bindgen_prelude::{Object, ToNapiValue, Unknown};
use napi::{Env, JsError, sys};

use crate::errors::{Fail, Outcome};

/// A callback as N-API calls it.
pub type Callback = unsafe extern "C" fn(sys::napi_env, sys::napi_callback_info) -> sys::napi_value;

/// The first `N` arguments of a call; those the caller left out are `undefined`.
pub struct Args<const N: usize> {
    env: sys::napi_env,
    argv: [sys::napi_value; N],
}

impl<const N: usize> Args<N> {
    /// The environment of the call.
    pub fn env(&self) -> Env {
        Env::from_raw(self.env)
    }

    /// Argument `i`, untyped.
    pub fn unknown(&self, i: usize) -> Unknown<'_> {
        // SAFETY: `env` and `argv[i]` are the live handles N-API gave this call; they stay
        // valid until the callback returns, which `Args` (created and dropped inside it)
        // cannot outlive.
        unsafe { Unknown::from_raw_unchecked(self.env, self.argv[i]) }
    }

    /// Argument `i` as a `u32` (a number; fractions are cut as napi-rs cuts them).
    pub fn u32(&self, i: usize, what: &str) -> Outcome<u32> {
        let mut out = 0u32;
        // SAFETY: as in `unknown`; `out` is a valid place for the result.
        let status = unsafe { sys::napi_get_value_uint32(self.env, self.argv[i], &mut out) };
        if status == sys::Status::napi_ok {
            Ok(out)
        } else {
            Err(Fail::Type(format!("{what} must be a number")))
        }
    }

    /// Argument `i` as an `f64`.
    pub fn f64(&self, i: usize, what: &str) -> Outcome<f64> {
        let mut out = 0f64;
        // SAFETY: as in `unknown`; `out` is a valid place for the result.
        let status = unsafe { sys::napi_get_value_double(self.env, self.argv[i], &mut out) };
        if status == sys::Status::napi_ok {
            Ok(out)
        } else {
            Err(Fail::Type(format!("{what} must be a number")))
        }
    }
}

/// Run `body` as the callback `info` of `env`: its value is returned to JavaScript, its error
/// thrown, and a panic thrown as an `internal` error instead of unwinding into Node.
///
/// # Safety
///
/// `env` and `info` must be the arguments N-API passed to the callback that calls this.
pub unsafe fn run<const N: usize, R: ToNapiValue>(
    env: sys::napi_env,
    info: sys::napi_callback_info,
    body: impl FnOnce(&Args<N>) -> napi::Result<R>,
) -> sys::napi_value {
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        let mut args = Args {
            env,
            argv: [ptr::null_mut(); N],
        };
        let mut argc = N;
        // SAFETY: the caller passes this call's `env` and `info`; `argv` has room for `argc`
        // values (N-API fills those the caller left out with `undefined`).
        let status = unsafe {
            sys::napi_get_cb_info(
                env,
                info,
                &mut argc,
                args.argv.as_mut_ptr(),
                ptr::null_mut(),
                ptr::null_mut(),
            )
        };
        if status != sys::Status::napi_ok {
            return Err(napi::Error::new(
                napi::Status::GenericFailure,
                "tessera: could not read the arguments",
            ));
        }
        let value = body(&args)?;
        // SAFETY: `env` is this call's environment.
        unsafe { R::to_napi_value(env, value) }
    }));
    let error = match outcome {
        Ok(Ok(value)) => return value,
        Ok(Err(error)) => error,
        Err(_) => Fail::Core(tessera::Error::internal(
            "tessera-node caught a panic in a request call",
        ))
        .into_napi(&Env::from_raw(env)),
    };
    // SAFETY: `env` is this call's environment; the exception is pending when we return.
    unsafe { JsError::from(error).throw_into(env) };
    ptr::null_mut()
}

/// An object whose properties are the functions `functions` (name, callback).
pub fn object<'env>(env: &'env Env, functions: &[(&str, Callback)]) -> napi::Result<Object<'env>> {
    let mut object = Object::new(env)?;
    for (name, callback) in functions {
        let mut function = ptr::null_mut();
        // SAFETY: `env` is the live environment of this call; the name pointer and length
        // describe `name`; `callback` is an `extern "C"` function that never unwinds (`run`).
        let status = unsafe {
            sys::napi_create_function(
                env.raw(),
                name.as_ptr().cast(),
                name.len() as isize,
                Some(*callback),
                ptr::null_mut(),
                &mut function,
            )
        };
        if status != sys::Status::napi_ok {
            return Err(napi::Error::new(
                napi::Status::GenericFailure,
                format!("tessera: could not create the function {name}"),
            ));
        }
        // SAFETY: `function` was just created in `env`.
        let function = unsafe { Unknown::from_raw_unchecked(env.raw(), function) };
        object.set(name, function)?;
    }
    Ok(object)
}
