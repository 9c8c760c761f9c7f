//! Token::parse_bytes / Token::parse on arbitrary bytes; see `checks::token_parse`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| tessera_fuzz::checks::token_parse(data));
