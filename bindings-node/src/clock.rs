//! `ManualClock`: time that moves only when a test says so, shared with the core.

use napi::Env;
use napi::bindgen_prelude::Unknown;
use napi_derive::napi;
use tessera::Clock as _;

use crate::args;
use crate::errors::run;

/// A clock that only moves when told to. Give it to `new SessionManager({ clock })` to test
/// idle and absolute timeouts without waiting.
///
/// ```js
/// const clock = new ManualClock()            // 1 700 000 000 000 ms (2023-11-14T22:13:20Z)
/// const manager = new SessionManager({ clock })
/// clock.advance(31 * 60 * 1000)              // 31 minutes later
/// ```
#[napi]
pub struct ManualClock {
    pub(crate) inner: tessera::ManualClock,
}

#[napi]
impl ManualClock {
    /// A clock reading `startMs` milliseconds since the Unix epoch (default 1 700 000 000 000).
    #[napi(constructor, ts_args_type = "startMs?: number")]
    pub fn new(env: Env, start_ms: Option<Unknown>) -> napi::Result<Self> {
        run(&env, || {
            let inner = if args::is_nullish(start_ms.as_ref()) {
                tessera::ManualClock::default()
            } else {
                tessera::ManualClock::new(args::millis(start_ms, "startMs")?)
            };
            Ok(ManualClock { inner })
        })
    }

    /// Now, in milliseconds since the epoch.
    #[napi]
    pub fn now(&self) -> f64 {
        millis_to_js(self.inner.now())
    }

    /// Move time forward by `ms` milliseconds.
    #[napi(ts_args_type = "ms: number")]
    pub fn advance(&self, env: Env, ms: Option<Unknown>) -> napi::Result<()> {
        run(&env, || {
            self.inner.advance_millis(args::millis(ms, "ms")?);
            Ok(())
        })
    }

    /// Set the time (it may move backwards, which only a test would want).
    #[napi(ts_args_type = "ms: number")]
    pub fn set(&self, env: Env, ms: Option<Unknown>) -> napi::Result<()> {
        run(&env, || {
            self.inner.set(args::millis(ms, "ms")?);
            Ok(())
        })
    }
}

/// Milliseconds as a JavaScript number (exact up to 2^53, far beyond any real date).
#[allow(clippy::cast_precision_loss)]
pub fn millis_to_js(ms: u64) -> f64 {
    ms as f64
}
