//! Which requests must prove they come from the app's own pages (CSRF).

/// Whether a request with this method changes state and so needs a CSRF token.
///
/// The safe methods of RFC 9110 §9.2.1 (`GET`, `HEAD`, `OPTIONS`, `TRACE`) do not; every other
/// method does, including ones the list has never heard of: an unknown method is treated as
/// unsafe rather than waved through. Methods are case-sensitive (RFC 9110 §9.1), so `get` is not
/// `GET` and needs a token.
///
/// ```
/// use tessera::http::needs_csrf;
/// assert!(!needs_csrf("GET") && !needs_csrf("HEAD"));
/// assert!(needs_csrf("POST") && needs_csrf("PATCH") && needs_csrf("PURGE") && needs_csrf("get"));
/// ```
pub fn needs_csrf(method: &str) -> bool {
    !matches!(method, "GET" | "HEAD" | "OPTIONS" | "TRACE")
}
