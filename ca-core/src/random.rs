//! Random bytes from the operating system's CSPRNG (through aws-lc), or an error: never zeros.

use crate::error::{Error, Result};

/// Fills `bytes` from the CSPRNG.
pub fn fill(bytes: &mut [u8]) -> Result<()> {
    aws_lc_rs::rand::fill(bytes).map_err(|_| Error::RandomUnavailable)
}

/// `N` random bytes.
pub fn bytes<const N: usize>() -> Result<[u8; N]> {
    let mut out = [0u8; N];
    fill(&mut out)?;
    Ok(out)
}

/// `N` random bytes as lowercase hex.
pub fn hex<const N: usize>() -> Result<String> {
    Ok(crate::display::hex(&bytes::<N>()?))
}
