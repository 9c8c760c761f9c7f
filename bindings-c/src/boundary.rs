//! The boundary every export goes through: a panic never unwinds into C, and every pointer
//! argument is checked for NULL (and every string for UTF-8) before it is used.
//!
//! Each `extern "C"` function's body is exactly one of the macros below; the test
//! `tests/boundary.rs` fails if an export is written without one.

use std::borrow::Cow;
use std::ffi::{CStr, c_char};
use std::ptr::NonNull;

use crate::status::Failure;

/// The body of an export that returns a `tessera_status`.
///
/// The block evaluates to an [`Outcome`](crate::status::Outcome); a failure is recorded for
/// `tessera_last_error` and its status returned; a panic is caught and reported as
/// `TESSERA_STATUS_INTERNAL`.
macro_rules! ffi_boundary {
    ($body:block) => {{
        let outcome = ::std::panic::catch_unwind(::std::panic::AssertUnwindSafe(
            || -> $crate::status::Outcome { $body },
        ));
        match outcome {
            Ok(Ok(status)) => status,
            Ok(Err(failure)) => failure.report(),
            Err(payload) => {
                $crate::boundary::discard_panic(payload);
                $crate::status::tessera_status::Internal
            }
        }
    }};
}

/// The body of an export that returns a plain value (a static string, a pointer): on a panic it
/// returns `$default` and records the panic for `tessera_last_error`.
macro_rules! ffi_value {
    ($default:expr, $body:block) => {{
        match ::std::panic::catch_unwind(::std::panic::AssertUnwindSafe(|| $body)) {
            Ok(value) => value,
            Err(payload) => {
                $crate::boundary::discard_panic(payload);
                $default
            }
        }
    }};
}

/// The body of an export that returns nothing (the `*_free` functions).
macro_rules! ffi_void {
    ($body:block) => {
        ffi_value!((), $body)
    };
}

/// Drop a caught panic's payload without letting a panicking destructor escape either.
pub(crate) fn discard_panic(payload: Box<dyn std::any::Any + Send>) {
    crate::status::note_panic();
    let dropped = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || drop(payload)));
    if let Err(again) = dropped {
        // A payload whose destructor panics twice is leaked rather than unwound into C.
        std::mem::forget(again);
    }
}

/// Borrow the object behind a handle argument.
///
/// # Safety
/// `ptr` must be NULL or point to a live `T` that stays valid, and is not mutated, for `'a`.
#[inline(always)]
pub(crate) unsafe fn arg_ref<'a, T>(ptr: *const T, name: &'static str) -> Result<&'a T, Failure> {
    // SAFETY: the caller guarantees `ptr` is NULL or valid for `'a`; `as_ref` checks NULL.
    unsafe { ptr.as_ref() }.ok_or_else(|| Failure::null(name))
}

/// Borrow a required NUL-terminated UTF-8 string argument.
///
/// # Safety
/// `ptr` must be NULL or point to a NUL-terminated string that stays valid and unchanged for
/// `'a`.
#[inline(always)]
pub(crate) unsafe fn arg_str<'a>(
    ptr: *const c_char,
    name: &'static str,
) -> Result<&'a str, Failure> {
    // SAFETY: forwarded from this function's contract.
    unsafe { opt_str(ptr, name) }?.ok_or_else(|| Failure::null(name))
}

/// Borrow an optional NUL-terminated UTF-8 string argument (NULL → `None`).
///
/// # Safety
/// As [`arg_str`].
#[inline(always)]
pub(crate) unsafe fn opt_str<'a>(
    ptr: *const c_char,
    name: &'static str,
) -> Result<Option<&'a str>, Failure> {
    if ptr.is_null() {
        return Ok(None);
    }
    // SAFETY: non-NULL, and the caller guarantees a NUL-terminated string valid for `'a`.
    let bytes = unsafe { CStr::from_ptr(ptr) }.to_bytes();
    // Tokens, ids and most user agents are ASCII: a word-at-a-time check is several times cheaper
    // than full UTF-8 validation (and than `<[u8]>::is_ascii` on short strings), and a validate
    // pays it twice (token, user agent).
    if is_ascii(bytes) {
        // SAFETY: ASCII bytes are valid UTF-8.
        return Ok(Some(unsafe { std::str::from_utf8_unchecked(bytes) }));
    }
    match std::str::from_utf8(bytes) {
        Ok(text) => Ok(Some(text)),
        Err(_) => Err(Failure::invalid_argument(format!(
            "{name} is not valid UTF-8"
        ))),
    }
}

/// Borrow a string argument that carries raw client bytes — a `User-Agent` or `Cookie` header —
/// replacing invalid UTF-8 with U+FFFD instead of failing (NULL → `None`). A browser that sends a
/// Latin-1 byte in a header must not be locked out of its session; U+FFFD never occurs in a token
/// or a cookie name, so the replacement cannot make a cookie match.
///
/// # Safety
/// As [`arg_str`].
#[inline(always)]
pub(crate) unsafe fn opt_header<'a>(ptr: *const c_char) -> Option<Cow<'a, str>> {
    if ptr.is_null() {
        return None;
    }
    // SAFETY: non-NULL, and the caller guarantees a NUL-terminated string valid for `'a`.
    let bytes = unsafe { CStr::from_ptr(ptr) }.to_bytes();
    if is_ascii(bytes) {
        // SAFETY: ASCII bytes are valid UTF-8.
        return Some(Cow::Borrowed(unsafe {
            std::str::from_utf8_unchecked(bytes)
        }));
    }
    Some(String::from_utf8_lossy(bytes))
}

/// Whether every byte is below 0x80, eight bytes at a time.
#[inline(always)]
fn is_ascii(bytes: &[u8]) -> bool {
    let mut words = bytes.chunks_exact(8);
    let mut any = 0u64;
    for word in &mut words {
        let mut w = [0u8; 8];
        w.copy_from_slice(word);
        any |= u64::from_ne_bytes(w);
    }
    for &b in words.remainder() {
        any |= u64::from(b);
    }
    any & 0x8080_8080_8080_8080 == 0
}

/// A required out-parameter, checked for NULL before the operation runs (so that a call with a
/// NULL out-pointer has no side effect) and written only on success.
pub(crate) struct Out<T>(NonNull<T>);

impl<T> Out<T> {
    /// Check `ptr`.
    ///
    /// # Safety
    /// `ptr` must be NULL or valid for a write of `T` until the export returns.
    #[inline(always)]
    pub(crate) unsafe fn new(ptr: *mut T, name: &'static str) -> Result<Self, Failure> {
        NonNull::new(ptr)
            .map(Out)
            .ok_or_else(|| Failure::null(name))
    }

    /// Write the result.
    #[inline(always)]
    pub(crate) fn write(self, value: T) {
        // SAFETY: non-NULL (checked in `new`) and valid for writes (`new`'s contract). `write`
        // does not drop the old contents, which C owns and may not have initialised.
        unsafe { self.0.as_ptr().write(value) }
    }
}

/// An optional out-parameter: NULL means the caller does not want the value.
pub(crate) struct OptOut<T>(Option<NonNull<T>>);

impl<T> OptOut<T> {
    /// Wrap `ptr`.
    ///
    /// # Safety
    /// `ptr` must be NULL or valid for a write of `T` until the export returns.
    #[inline(always)]
    pub(crate) unsafe fn new(ptr: *mut T) -> Self {
        OptOut(NonNull::new(ptr))
    }

    /// Write the result if the caller asked for it.
    pub(crate) fn write(self, value: T) {
        if let Some(ptr) = self.0 {
            // SAFETY: non-NULL and valid for writes (`new`'s contract).
            unsafe { ptr.as_ptr().write(value) }
        }
    }
}

/// A caller-supplied byte buffer (`char *buf, size_t buf_len`), checked up front.
pub(crate) struct OutBuf {
    ptr: NonNull<u8>,
    len: usize,
}

impl OutBuf {
    /// Check that `ptr` is not NULL and that `len` is at least `need` bytes.
    ///
    /// # Safety
    /// `ptr` must be NULL or valid for writes of `len` bytes until the export returns.
    pub(crate) unsafe fn new(
        ptr: *mut c_char,
        len: usize,
        need: usize,
        name: &'static str,
    ) -> Result<Self, Failure> {
        let ptr = NonNull::new(ptr.cast::<u8>()).ok_or_else(|| Failure::null(name))?;
        if len < need {
            return Err(Failure::invalid_argument(format!(
                "{name} holds {len} bytes; it needs at least {need}"
            )));
        }
        Ok(OutBuf { ptr, len })
    }

    /// Copy `bytes` and a terminating NUL into the buffer. `bytes.len() < len` must hold: the
    /// callers size their buffers by the fixed lengths checked in [`OutBuf::new`].
    pub(crate) fn write_c_str(self, bytes: &[u8]) -> Result<(), Failure> {
        if bytes.len() >= self.len {
            return Err(Failure::internal("output larger than its buffer"));
        }
        // SAFETY: the buffer is valid for `len` bytes (`new`'s contract) and `bytes.len() + 1 <=
        // len` was just checked; a caller's buffer cannot overlap our own `bytes`.
        unsafe {
            std::ptr::copy_nonoverlapping(bytes.as_ptr(), self.ptr.as_ptr(), bytes.len());
            self.ptr.as_ptr().add(bytes.len()).write(0);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::ffi::CStr;

    use crate::status::tessera_status;

    fn last_error() -> String {
        // SAFETY: `tessera_last_error` returns a valid NUL-terminated string.
        unsafe { CStr::from_ptr(crate::status::tessera_last_error()) }
            .to_string_lossy()
            .into_owned()
    }

    #[test]
    fn a_panic_is_caught_and_reported_as_internal() {
        let boom = || -> tessera_status {
            ffi_boundary!({
                if std::hint::black_box(true) {
                    panic!("boom");
                }
                Ok(tessera_status::Ok)
            })
        };
        assert_eq!(boom(), tessera_status::Internal);
        assert!(
            last_error().starts_with("internal: a Rust panic was caught"),
            "{}",
            last_error()
        );
        let value = || -> u64 {
            ffi_value!(7, {
                if std::hint::black_box(true) {
                    panic!("boom");
                }
                1
            })
        };
        assert_eq!(value(), 7);
        let nothing = || ffi_void!({ panic!("boom") });
        nothing();
    }

    #[test]
    fn is_ascii_agrees_with_std() {
        let mut cases: Vec<Vec<u8>> = vec![Vec::new(), b"a".to_vec(), b"token".repeat(20)];
        for len in 0..40 {
            for at in 0..len {
                let mut v = vec![b'x'; len];
                v[at] = 0x80 | (at as u8);
                cases.push(v);
            }
        }
        for c in cases {
            assert_eq!(super::is_ascii(&c), c.is_ascii(), "{c:?}");
        }
    }
}
