//! Request handles: the `External` JavaScript holds for one request's state
//! ([`Live`](crate::request::Live)), made by `__newRequest` and passed to every per-request call.
//!
//! napi-rs's `External<T>` checks each unwrap against one registry for the whole process,
//! behind a mutex and hashed with SipHash: ~300 instructions, twice per request. A request
//! handle is made, used and finalized on one JavaScript thread (an `External` cannot leave its
//! isolate, and N-API runs finalizers on the thread of their environment), so the registry here
//! is one per thread: the set of pointers this module handed out, which only [`make`] inserts
//! into and the finalizer removes from. A pointer found there is a live `Arc<Live>` made here;
//! any other value — a foreign external, an object, a handle from elsewhere — is refused without
//! being dereferenced.

use std::cell::RefCell;
use std::collections::HashSet;
use std::ffi::c_void;
use std::hash::{BuildHasherDefault, Hasher};
use std::ptr;
use std::sync::Arc;

use napi::bindgen_prelude::Unknown;
use napi::{Env, JsValue, sys};

use crate::errors::{Fail, Outcome};
use crate::request::Live;

thread_local! {
    /// The addresses of the live handles made on this thread.
    static HANDLES: RefCell<HashSet<usize, BuildHasherDefault<AddressHasher>>> =
        RefCell::new(HashSet::default());
}

/// Hashes an address: a multiply that mixes its high bits into the low ones the table indexes
/// by (allocations are 16-byte aligned, so the low bits of an address are always zero).
#[derive(Default)]
struct AddressHasher(u64);

impl Hasher for AddressHasher {
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 << 8 | u64::from(*b)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        }
    }

    fn write_usize(&mut self, n: usize) {
        self.0 = (n as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }

    fn finish(&self) -> u64 {
        self.0 ^ (self.0 >> 32)
    }
}

/// A new handle for `live`, as the JavaScript value.
pub fn make(env: &Env, live: Arc<Live>) -> napi::Result<Unknown<'_>> {
    let data = Box::into_raw(Box::new(live));
    let mut value = ptr::null_mut();
    // SAFETY: `env` is the live environment of this call; `data` is a valid pointer that the
    // finalizer takes back (once, when the external is collected or the environment ends).
    let status = unsafe {
        sys::napi_create_external(
            env.raw(),
            data.cast(),
            Some(finalize),
            ptr::null_mut(),
            &mut value,
        )
    };
    if status != sys::Status::napi_ok {
        // SAFETY: `data` came from `Box::into_raw` above and N-API did not take it.
        drop(unsafe { Box::from_raw(data) });
        return Err(napi::Error::new(
            napi::Status::GenericFailure,
            "tessera: could not create a request handle",
        ));
    }
    HANDLES.with(|set| set.borrow_mut().insert(data as usize));
    // SAFETY: `value` was just created in `env`.
    Ok(unsafe { Unknown::from_raw_unchecked(env.raw(), value) })
}

/// The request state behind the handle `value`, or a `TypeError` for anything else.
pub fn live<'a>(value: &Unknown<'a>) -> Outcome<&'a Arc<Live>> {
    let raw = value.value();
    let mut data = ptr::null_mut();
    // SAFETY: `env` and `value` are live handles of the current call; `data` is a valid place
    // for the result.
    let status = unsafe { sys::napi_get_value_external(raw.env, raw.value, &mut data) };
    let ours = status == sys::Status::napi_ok
        && HANDLES.with(|set| set.try_borrow().is_ok_and(|s| s.contains(&(data as usize))));
    if !ours {
        return Err(Fail::Type("request must be a request handle".to_owned()));
    }
    // SAFETY: the address is in this thread's set, so `make` boxed an `Arc<Live>` there and
    // its finalizer has not run (it removes the address first); the external is an argument
    // of the current call, alive while the reference is used.
    Ok(unsafe { &*data.cast::<Arc<Live>>() })
}

/// N-API's finalizer of a handle: forget its address, then free its state.
unsafe extern "C" fn finalize(_env: sys::napi_env, data: *mut c_void, _hint: *mut c_void) {
    let forgotten = HANDLES.try_with(|set| {
        set.try_borrow_mut()
            .map(|mut s| s.remove(&(data as usize)))
            .is_ok()
    });
    // An address still in the set must stay valid: leak the state rather than free it. (The
    // set is gone only at the end of the thread, and with it any way to look the address up.)
    if forgotten != Ok(false) {
        // SAFETY: `data` came from `Box::into_raw` in `make`, and N-API finalizes it once.
        drop(unsafe { Box::from_raw(data.cast::<Arc<Live>>()) });
    }
}
