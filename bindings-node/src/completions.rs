//! One channel per JavaScript thread for settling Promises from the store's threads.
//!
//! napi-rs's deferred makes a threadsafe function (a libuv async handle, and an environment
//! cleanup hook) for every Promise and tears it down when the Promise settles: on Redis that
//! cost more than the round trip itself (~100 µs a call here). Here one threadsafe function
//! per JavaScript thread carries every settlement: the store's threads queue a boxed
//! `Completion`, the JavaScript thread resolves or rejects its deferred. It holds the event loop
//! open only while Promises are pending, so a program with none exits as before.

use std::cell::Cell;
use std::ffi::c_void;
use std::ptr;

use napi::bindgen_prelude::ToNapiValue;
use napi::{Env, sys};

/// The work a completion does on the JavaScript thread: its value, or the error to reject with.
type Settle = Box<dyn FnOnce(Env) -> napi::Result<sys::napi_value> + Send>;

/// One Promise's settlement, on its way to the JavaScript thread.
struct Completion {
    deferred: usize,
    settle: Settle,
}

thread_local! {
    /// This JavaScript thread's channel (made at its first Promise), and its pending Promises.
    static CHANNEL: Cell<usize> = const { Cell::new(0) };
    static PENDING: Cell<usize> = const { Cell::new(0) };
}

/// A pending Promise, to settle from any thread. Dropped unsettled (work that never answered:
/// a manager freed with a call in flight), it rejects the Promise rather than leave it, and the
/// event loop it holds open, waiting forever.
pub struct Pending {
    deferred: usize,
    channel: usize,
    settled: bool,
}

/// A new Promise on the calling JavaScript thread and what settles it.
///
/// # Errors
/// A failed N-API call (the environment is shutting down).
pub fn promise(env: &Env) -> napi::Result<(Pending, sys::napi_value)> {
    let channel = channel(env)?;
    let mut deferred = ptr::null_mut();
    let mut promise = ptr::null_mut();
    // SAFETY: called on the JavaScript thread of `env`, with out-pointers to locals.
    check(unsafe { sys::napi_create_promise(env.raw(), &mut deferred, &mut promise) })?;
    if PENDING.with(|p| p.replace(p.get() + 1)) == 0 {
        // SAFETY: `channel` is this thread's live threadsafe function; same thread as `env`.
        check(unsafe { sys::napi_ref_threadsafe_function(env.raw(), channel as _) })?;
    }
    Ok((
        Pending {
            deferred: deferred as usize,
            channel,
            settled: false,
        },
        promise,
    ))
}

impl Pending {
    /// Settle with `result` (converted on the JavaScript thread by `settle`). Any thread.
    pub fn settle<T: ToNapiValue + Send + 'static>(
        mut self,
        result: Box<dyn FnOnce(Env) -> napi::Result<T> + Send>,
    ) {
        self.send(Box::new(move |env: Env| {
            let value = result(env)?;
            // SAFETY: on the JavaScript thread of `env` (the channel calls back there).
            unsafe { T::to_napi_value(env.raw(), value) }
        }));
    }

    fn send(&mut self, settle: Settle) {
        self.settled = true;
        let data = Box::into_raw(Box::new(Completion {
            deferred: self.deferred,
            settle,
        }));
        // SAFETY: `channel` lives as long as the environment (released only at its teardown,
        // when queued calls are refused and `data` comes back below); any thread may call.
        let status = unsafe {
            sys::napi_call_threadsafe_function(
                self.channel as _,
                data.cast(),
                sys::ThreadsafeFunctionCallMode::nonblocking,
            )
        };
        if status != sys::Status::napi_ok {
            // The environment is going away: nothing will read the Promise.
            // SAFETY: the call refused `data`, so it is still ours.
            drop(unsafe { Box::from_raw(data) });
        }
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        if !self.settled {
            self.send(Box::new(|env: Env| {
                let lost = tessera::Error::internal("the operation ended without an answer");
                Err(crate::errors::Fail::Core(lost).into_napi(&env))
            }));
        }
    }
}

/// This thread's channel, made at its first use.
fn channel(env: &Env) -> napi::Result<usize> {
    let made = CHANNEL.with(Cell::get);
    if made != 0 {
        return Ok(made);
    }
    let mut name = ptr::null_mut();
    let text = "tessera.settle";
    // SAFETY: on the JavaScript thread of `env`; `text` is valid UTF-8 of the given length.
    check(unsafe {
        sys::napi_create_string_utf8(
            env.raw(),
            text.as_ptr().cast(),
            text.len() as isize,
            &mut name,
        )
    })?;
    let mut tsfn = ptr::null_mut();
    // SAFETY: on the JavaScript thread; no JavaScript function (the callback does the work), no
    // finalizer (the function lives as long as the environment).
    check(unsafe {
        sys::napi_create_threadsafe_function(
            env.raw(),
            ptr::null_mut(),
            ptr::null_mut(),
            name,
            0,
            1,
            ptr::null_mut(),
            None,
            ptr::null_mut(),
            Some(deliver),
            &mut tsfn,
        )
    })?;
    // Idle until a Promise is pending (see `promise`).
    // SAFETY: the function just made, on its thread.
    check(unsafe { sys::napi_unref_threadsafe_function(env.raw(), tsfn) })?;
    CHANNEL.with(|c| c.set(tsfn as usize));
    Ok(tsfn as usize)
}

/// Runs on the JavaScript thread for each queued completion (`env` null at teardown).
unsafe extern "C" fn deliver(
    env: sys::napi_env,
    _js_callback: sys::napi_value,
    _context: *mut c_void,
    data: *mut c_void,
) {
    // SAFETY: `data` is the `Completion` `settle` boxed and handed over, delivered once.
    let completion = unsafe { Box::from_raw(data.cast::<Completion>()) };
    if env.is_null() {
        return;
    }
    let deferred = completion.deferred as sys::napi_deferred;
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        (completion.settle)(Env::from_raw(env))
    }))
    .unwrap_or_else(|_| {
        Err(napi::Error::from_reason(
            "internal: settling a Promise panicked",
        ))
    });
    // SAFETY: on the JavaScript thread of `env`; `deferred` came from `napi_create_promise` there
    // and is settled exactly once, here.
    unsafe {
        match outcome {
            Ok(value) => sys::napi_resolve_deferred(env, deferred, value),
            Err(error) => {
                let value = napi::JsError::from(error).into_value(env);
                sys::napi_reject_deferred(env, deferred, value)
            }
        };
    }
    if PENDING.with(|p| p.replace(p.get().saturating_sub(1))) == 1 {
        let channel = CHANNEL.with(Cell::get);
        // SAFETY: this thread's live channel, on its thread.
        unsafe { sys::napi_unref_threadsafe_function(env, channel as _) };
    }
}

fn check(status: sys::napi_status) -> napi::Result<()> {
    if status == sys::Status::napi_ok {
        Ok(())
    } else {
        Err(napi::Error::from_reason(format!(
            "N-API call failed with status {status}"
        )))
    }
}
