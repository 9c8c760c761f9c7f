//! `ManualClock`: time that moves only when a test says so.

use pyo3::prelude::*;
use tessera::Clock as _;

use crate::convert;

/// A clock for tests: starts at `start` (seconds since the epoch) and moves only by `advance`
/// or `set`. Give it to `SessionManager(clock=...)` to test idle and absolute timeouts without
/// sleeping.
#[pyclass(frozen, module = "tessera._native")]
pub struct ManualClock {
    pub(crate) inner: tessera::ManualClock,
}

#[pymethods]
impl ManualClock {
    #[new]
    #[pyo3(signature = (start=None))]
    fn new(start: Option<&Bound<'_, PyAny>>) -> PyResult<Self> {
        let inner = match start {
            None => tessera::ManualClock::default(),
            Some(s) => tessera::ManualClock::new(convert::millis(s, "start")?),
        };
        Ok(ManualClock { inner })
    }

    /// Now, in seconds since the epoch.
    fn now(&self) -> f64 {
        self.inner.now() as f64 / 1000.0
    }

    /// Move time forward by `seconds` (a number or a `timedelta`).
    fn advance(&self, seconds: &Bound<'_, PyAny>) -> PyResult<()> {
        self.inner
            .advance_millis(convert::millis(seconds, "seconds")?);
        Ok(())
    }

    /// Set the time, in seconds since the epoch.
    fn set(&self, now: &Bound<'_, PyAny>) -> PyResult<()> {
        self.inner.set(convert::millis(now, "now")?);
        Ok(())
    }

    fn __repr__(&self) -> String {
        format!("ManualClock({})", self.now())
    }
}
