//! The manual clock: time that moves only when told, for testing timeouts without sleeping.

use crate::boundary::{Out, arg_ref};
use crate::handles::CLOCKS;
use crate::status::tessera_status;

/// A manual clock. Give it to `tessera_manager_new` and move time with `tessera_clock_advance`
/// or `tessera_clock_set`; every manager built with it sees the change at once.
///
/// The manager keeps its own reference: the handle may be freed before or after the managers
/// that use it.
///
/// Thread safety: safe to use from many threads at once (reads and moves are atomic).
pub struct tessera_clock {
    pub(crate) clock: tessera_core::ManualClock,
}

/// Create a manual clock reading `start_ms` milliseconds since the Unix epoch (the conformance
/// suite starts at 1700000000000). Release it with `tessera_clock_free`.
///
/// # Safety
/// `clock_out` must be NULL or valid for writing a pointer.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tessera_clock_new(
    start_ms: u64,
    clock_out: *mut *mut tessera_clock,
) -> tessera_status {
    ffi_boundary!({
        // SAFETY: `clock_out` is NULL or writable (this function's contract).
        let out = unsafe { Out::new(clock_out, "clock_out") }?;
        let clock = tessera_core::ManualClock::new(start_ms);
        let handle = Box::into_raw(Box::new(tessera_clock { clock }));
        CLOCKS.insert(handle);
        out.write(handle);
        Ok(tessera_status::Ok)
    })
}

/// Move the clock forward by `ms` milliseconds (saturating).
///
/// # Safety
/// `clock` must be NULL or a live handle from `tessera_clock_new`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tessera_clock_advance(
    clock: *const tessera_clock,
    ms: u64,
) -> tessera_status {
    ffi_boundary!({
        // SAFETY: `clock` is NULL or live (this function's contract).
        let clock = unsafe { arg_ref(clock, "clock") }?;
        clock.clock.advance_millis(ms);
        Ok(tessera_status::Ok)
    })
}

/// Set the clock to `now_ms` milliseconds since the epoch (it may move backwards, which only a
/// test would want).
///
/// # Safety
/// `clock` must be NULL or a live handle from `tessera_clock_new`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tessera_clock_set(
    clock: *const tessera_clock,
    now_ms: u64,
) -> tessera_status {
    ffi_boundary!({
        // SAFETY: `clock` is NULL or live (this function's contract).
        let clock = unsafe { arg_ref(clock, "clock") }?;
        clock.clock.set(now_ms);
        Ok(tessera_status::Ok)
    })
}

/// Read the clock (milliseconds since the epoch) into `*now_out`.
///
/// # Safety
/// `clock` must be NULL or a live handle; `now_out` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tessera_clock_now(
    clock: *const tessera_clock,
    now_out: *mut u64,
) -> tessera_status {
    ffi_boundary!({
        // SAFETY: both pointers are NULL or valid (this function's contract).
        let (clock, out) = unsafe { (arg_ref(clock, "clock")?, Out::new(now_out, "now_out")?) };
        out.write(tessera_core::Clock::now(&clock.clock));
        Ok(tessera_status::Ok)
    })
}

/// Release a clock handle (managers using the clock keep working). NULL is ignored.
///
/// Freeing a clock twice is harmless, even from two threads at once: one call releases it, the
/// others change nothing and set `tessera_last_error`; so does a pointer `tessera_clock_new`
/// never returned.
///
/// # Safety
/// `clock` must be NULL or a handle from `tessera_clock_new`; no other call may be using this
/// handle except another `tessera_clock_free`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tessera_clock_free(clock: *mut tessera_clock) {
    ffi_void!({
        if clock.is_null() {
            return;
        }
        match CLOCKS.remove(clock) {
            // SAFETY: the registry held this address, so it came from `Box::into_raw` in
            // `tessera_clock_new`; removing it succeeds once, so it is released once.
            Ok(()) => drop(unsafe { Box::from_raw(clock) }),
            Err(failure) => {
                failure.report();
            }
        }
    })
}
