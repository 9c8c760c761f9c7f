//! Node.js binding for Tessera (work in progress).
