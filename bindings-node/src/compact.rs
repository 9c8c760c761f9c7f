//! Compact results: the per-request calls answer with one string instead of an object (a result
//! object built property by property pays a string internalization and a map transition per
//! field), written here without the formatting machinery and taken apart in JavaScript with
//! `indexOf`/`slice` (`lib/request.js`).

use napi::bindgen_prelude::{ToNapiValue, TypeName};
use napi::{ValueType, sys};

/// A compact result on its way to JavaScript: bytes that are UTF-8, created as a Latin-1
/// string when they are all ASCII (no decoding pass in V8).
pub struct Compact(pub Vec<u8>);

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

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Append `bytes` as lowercase hex digits.
pub fn push_hex(out: &mut Vec<u8>, bytes: &[u8]) {
    // Written 32 bytes at a time into the stack and appended at once: a push per digit checks
    // the capacity each time (~400 instructions for a session id, against ~100).
    let mut digits = [0u8; 64];
    for chunk in bytes.chunks(32) {
        for (pair, b) in digits.chunks_exact_mut(2).zip(chunk) {
            pair[0] = HEX[usize::from(b >> 4)];
            pair[1] = HEX[usize::from(b & 0x0f)];
        }
        out.extend_from_slice(&digits[..2 * chunk.len()]);
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

/// Append `n` in decimal.
pub fn push_decimal(out: &mut Vec<u8>, mut n: u64) {
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
pub fn utf16_len(s: &str) -> usize {
    if s.is_ascii() {
        s.len()
    } else {
        s.encode_utf16().count()
    }
}
