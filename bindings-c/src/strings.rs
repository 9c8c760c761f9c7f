//! Strings that cross the boundary: caller-supplied buffers for tokens and ids, and the
//! library-allocated strings released (and zeroed) by `tessera_string_free`.
//!
//! An allocated string is laid out as `[length: usize][bytes][NUL]` and the caller gets a pointer
//! to the bytes. Keeping the length in front means `tessera_string_free` knows exactly how much to
//! zero and release even if the caller wrote into the string.

use std::alloc::{Layout, alloc, dealloc};
use std::ffi::c_char;
use std::mem::{align_of, size_of};

use tessera_core::{SessionId, Token};
use zeroize::Zeroize;

use crate::boundary::OutBuf;
use crate::handles::STRINGS;
use crate::status::Failure;

/// Bytes a caller-supplied token buffer needs: 43 characters of base64url and a NUL.
pub const TESSERA_TOKEN_BUFFER_LEN: usize = 44;

/// Bytes a caller-supplied session-id buffer needs: 64 lowercase hex digits and a NUL.
pub const TESSERA_ID_BUFFER_LEN: usize = 65;

const HEADER: usize = size_of::<usize>();

/// Copy `text` into a new string for C, released with `tessera_string_free`.
///
/// # Errors
/// `internal` if `text` contains a NUL byte (C could not see its end) or memory runs out.
pub(crate) fn alloc_string(text: &str) -> Result<*mut c_char, Failure> {
    if text.as_bytes().contains(&0) {
        return Err(Failure::internal(
            "the value contains a NUL byte and cannot be returned as a C string",
        ));
    }
    let layout = layout_for(text.len())?;
    // SAFETY: the layout has a non-zero size (at least the header and the NUL).
    let base = unsafe { alloc(layout) };
    if base.is_null() {
        return Err(Failure::internal("out of memory"));
    }
    // SAFETY: `base` is a fresh allocation of HEADER + len + 1 bytes aligned for usize, so the
    // header write, the copy after it and the trailing NUL are all in bounds.
    unsafe {
        base.cast::<usize>().write(text.len());
        let bytes = base.add(HEADER);
        std::ptr::copy_nonoverlapping(text.as_ptr(), bytes, text.len());
        bytes.add(text.len()).write(0);
        STRINGS.insert(bytes);
        Ok(bytes.cast::<c_char>())
    }
}

fn layout_for(len: usize) -> Result<Layout, Failure> {
    HEADER
        .checked_add(len)
        .and_then(|n| n.checked_add(1))
        .and_then(|size| Layout::from_size_align(size, align_of::<usize>()).ok())
        .ok_or_else(|| Failure::internal("string too large"))
}

/// Release a string Tessera returned through a `char **` out-parameter, after overwriting it
/// with zeros (it may hold a token, in a `Set-Cookie` value, or a CSRF token). NULL is ignored.
///
/// Pass only pointers Tessera returned through a `char **`; never `free()` them yourself. A
/// string freed twice (even by two threads at once), or a pointer that is not such a string
/// (e.g. the borrowed `const char *` of `tessera_last_error`, `tessera_session_user`, the `*_str`
/// functions or the event accessors), is not touched: the call changes nothing and sets
/// `tessera_last_error`.
///
/// # Safety
/// `string` must be NULL or a pointer; if Tessera returned it, no other call may be using it
/// except another `tessera_string_free`.
///
/// Thread safety: any thread may release a string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tessera_string_free(string: *mut c_char) {
    ffi_void!({
        if string.is_null() {
            return;
        }
        if let Err(failure) = STRINGS.remove(string) {
            failure.report();
            return;
        }
        // SAFETY: the registry held `string`, so it came from `alloc_string` and this call is
        // the one releasing it: the length header sits HEADER bytes before it, inside the same
        // allocation.
        let (base, len) = unsafe {
            let base = string.cast::<u8>().sub(HEADER);
            (base, base.cast::<usize>().read())
        };
        // SAFETY: the allocation holds `len + 1` bytes after the header; zero them all before
        // releasing (the Zeroize impl uses volatile writes the optimiser cannot drop).
        unsafe { std::slice::from_raw_parts_mut(base.add(HEADER), len + 1) }.zeroize();
        if let Ok(layout) = layout_for(len) {
            // SAFETY: `base` was allocated by `alloc_string` with exactly this layout.
            unsafe { dealloc(base, layout) };
        }
    })
}

/// Write `token` and a NUL into a caller buffer of at least [`TESSERA_TOKEN_BUFFER_LEN`] bytes.
pub(crate) fn write_token(out: OutBuf, token: &Token) -> Result<(), Failure> {
    let mut text = [0u8; tessera_core::token::TOKEN_LEN];
    token.encode_into(&mut text);
    let written = out.write_c_str(&text);
    text.zeroize();
    written
}

/// Write `id` as 64 lowercase hex digits and a NUL into a caller buffer of at least
/// [`TESSERA_ID_BUFFER_LEN`] bytes.
pub(crate) fn write_id(out: OutBuf, id: &SessionId) -> Result<(), Failure> {
    out.write_c_str(&hex(id))
}

/// `id` in lowercase hex, without allocating.
pub(crate) fn hex(id: &SessionId) -> [u8; 64] {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = [0u8; 64];
    for (i, b) in id.as_bytes().iter().enumerate() {
        out[2 * i] = DIGITS[usize::from(b >> 4)];
        out[2 * i + 1] = DIGITS[usize::from(b & 0xf)];
    }
    out
}

#[cfg(test)]
mod tests {
    use std::ffi::CStr;

    use super::*;

    #[test]
    fn allocated_strings_round_trip_and_free() {
        for text in ["", "a", "session=abc; Path=/", &"x".repeat(100_000)] {
            let p = alloc_string(text).unwrap();
            // SAFETY: `p` is a NUL-terminated string we just allocated.
            assert_eq!(unsafe { CStr::from_ptr(p) }.to_str().unwrap(), text);
            // SAFETY: `p` came from `alloc_string` and is released once.
            unsafe { tessera_string_free(p) };
        }
        // SAFETY: NULL is allowed.
        unsafe { tessera_string_free(std::ptr::null_mut()) };
        assert!(alloc_string("a\0b").is_err());
    }

    #[test]
    fn hex_matches_display() {
        let id = SessionId::from_bytes(std::array::from_fn(|i| (i * 37) as u8));
        assert_eq!(std::str::from_utf8(&hex(&id)).unwrap(), id.to_string());
    }
}
