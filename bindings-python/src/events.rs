//! Forwarding core events to a Python callable.

use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::session::Event;

/// A core listener that calls `callback(Event)` with the GIL held; what it raises is logged on
/// the `tessera` logger and swallowed, so an audit hook can never fail a request.
pub fn forwarder(callback: Py<PyAny>) -> impl Fn(&tessera::Event) + Send + Sync + 'static {
    move |event| {
        Python::attach(|py| {
            let result = Py::new(py, Event::from(event)).and_then(|e| callback.call1(py, (e,)));
            if let Err(err) = result {
                log_error(py, err);
            }
        });
    }
}

fn log_error(py: Python<'_>, err: PyErr) {
    let logged = (|| -> PyResult<()> {
        let logger = py
            .import("logging")?
            .call_method1("getLogger", ("tessera",))?;
        let kwargs = PyDict::new(py);
        kwargs.set_item("exc_info", err.value(py))?;
        logger.call_method(
            "error",
            ("tessera: an event listener raised; the request goes on",),
            Some(&kwargs),
        )?;
        Ok(())
    })();
    if let Err(e) = logged {
        e.write_unraisable(py, None);
    }
}
