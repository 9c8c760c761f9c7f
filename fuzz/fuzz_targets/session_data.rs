//! data::parse_object, then data writes through a SessionManager with a small cap; see
//! `checks::session_data`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| tessera_fuzz::checks::session_data(data));
