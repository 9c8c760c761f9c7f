//! `tessera._native`: the PyO3 module behind the `tessera` Python package.
//!
//! The package's `__init__.py` re-exports these names; Django and Flask glue live in Python
//! (`tessera.django`, `tessera.flask`). Modules: [`manager`] (the lifecycle), [`request`] (the
//! per-request protocol frameworks run), [`session`]
//! (returned objects), [`dbsc`] (the two device-binding endpoints), [`clock`], [`events`], [`errors`] (exception classes), [`convert`]
//! (Python ↔ JSON, seconds ↔ milliseconds), [`keys`] (the `str` objects of data keys, shared).

mod clock;
mod convert;
mod dbsc;
mod errors;
mod events;
mod keys;
mod manager;
mod request;
mod session;

use pyo3::prelude::*;

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<manager::SessionManager>()?;
    m.add_class::<request::Request>()?;
    m.add_class::<request::Response>()?;
    m.add_class::<session::Session>()?;
    m.add_class::<session::SessionInfo>()?;
    m.add_class::<session::Event>()?;
    m.add_class::<dbsc::DbscResponse>()?;
    m.add_class::<clock::ManualClock>()?;
    errors::register(m)?;
    m.add("REASONS", tessera::Reason::ALL.map(|r| r.code()).to_vec())?;
    m.add("VERSION", tessera::VERSION)?;
    Ok(())
}
