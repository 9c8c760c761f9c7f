//! C ABI for Tessera (work in progress).
