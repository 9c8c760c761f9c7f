//! The host's signals. Rust, Python and Node programs ignore `SIGPIPE`; a C program usually does
//! not, so a write to a connection Redis has closed (Redis restarted, `CLIENT KILL`, a network
//! reset) would kill the whole process. The Redis store writes only from its own I/O threads:
//! each blocks `SIGPIPE` for itself when it starts, so such a write fails with `EPIPE` (the call
//! fails with `store_unavailable`) and the program's own signal handling stays as it was.

/// Make every Redis I/O thread started from now on block `SIGPIPE` (idempotent).
pub(crate) fn shield_io_threads() {
    #[cfg(feature = "redis")]
    tessera_core::store::redis::set_io_thread_start(block_sigpipe);
}

/// Block `SIGPIPE` in the calling thread.
#[cfg(feature = "redis")]
fn block_sigpipe() {
    // SAFETY: `set` is a plain C struct, zeroed and then set up by sigemptyset/sigaddset before
    // pthread_sigmask reads it; pthread_sigmask changes only this thread's mask, and a null
    // `oldset` is allowed.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGPIPE);
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
    }
}
