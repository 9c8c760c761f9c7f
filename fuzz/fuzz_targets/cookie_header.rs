//! cookie::find_session_cookie on arbitrary UTF-8 and names; see `checks::cookie_header`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| tessera_fuzz::checks::cookie_header(data));
