//! Writes the raw bytes of freshly minted tokens to stdout, for statistical tests of the token
//! source: `cargo run --release -p tessera-core --example token_stream -- BYTES | rngtest`.

use std::io::Write;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use tessera::Token;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let wanted: usize = std::env::args()
        .nth(1)
        .map_or(Ok(2_500_000), |a| a.parse())?;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let mut written = 0;
    while written < wanted {
        // The bytes a client holds, decoded from the cookie text: exactly what an attacker sees.
        let raw = URL_SAFE_NO_PAD.decode(Token::generate()?.expose())?;
        let take = raw.len().min(wanted - written);
        out.write_all(&raw[..take])?;
        written += take;
    }
    out.flush()?;
    Ok(())
}
