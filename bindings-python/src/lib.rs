//! Python binding for Tessera (work in progress).
