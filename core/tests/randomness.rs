//! The token source, statistically: a million tokens, no duplicate, and no bit position biased
//! beyond what chance allows. (`make rngtest` adds the FIPS 140-2 battery on 20 Mbit.)

use std::collections::HashSet;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use tessera::Token;

const N: usize = 1_000_000;

#[test]
fn a_million_tokens_are_distinct_and_unbiased() {
    let mut seen: HashSet<[u8; 32]> = HashSet::with_capacity(N);
    let mut ones = [0u32; 256];
    for _ in 0..N {
        let text = Token::generate().expect("randomness").expose();
        let raw: [u8; 32] = URL_SAFE_NO_PAD
            .decode(&text)
            .expect("canonical base64url")
            .try_into()
            .expect("32 bytes");
        for (i, byte) in raw.iter().enumerate() {
            for bit in 0..8 {
                ones[i * 8 + bit] += u32::from(byte >> bit & 1);
            }
        }
        assert!(seen.insert(raw), "a token repeated");
    }
    // Each count is Binomial(N, 1/2): mean N/2, standard deviation sqrt(N)/2 = 500. With 256
    // positions, 5.5 σ keeps the chance of a false alarm over the whole test below 1e-5, while
    // a source biased by even 0.3 % at one position (3,000 counts) fails it.
    let mean = N as f64 / 2.0;
    let sigma = (N as f64).sqrt() / 2.0;
    let worst = ones
        .iter()
        .enumerate()
        .map(|(i, &c)| (i, (f64::from(c) - mean).abs() / sigma))
        .fold((0, 0.0), |a, b| if b.1 > a.1 { b } else { a });
    assert!(
        worst.1 < 5.5,
        "bit {} deviates by {:.2} σ",
        worst.0,
        worst.1
    );
    let total: u64 = ones.iter().map(|&c| u64::from(c)).sum();
    let all = 256.0 * N as f64;
    let z = (total as f64 - all / 2.0).abs() / (all.sqrt() / 2.0);
    assert!(z < 5.0, "overall monobit deviates by {z:.2} σ");
}
