//! What the core says about a store's configuration (a Redis URL without a prefix), handed to
//! JavaScript as it is built: `index.js` registers `lib/deployment.js`'s `storeWarning` with
//! [`set_warning_sink`], which issues each one once per process with `process.emitWarning`.
//! Without a sink (the addon loaded on its own) nothing is issued; `storeWarnings` still lists
//! them.

use std::cell::RefCell;

use napi::Env;
use napi::bindgen_prelude::{FnArgs, Function, FunctionRef};
use napi_derive::napi;

/// `(message) => void`, from `lib/deployment.js`.
type Sink = FunctionRef<FnArgs<(String,)>, ()>;

thread_local! {
    // One per JavaScript thread (the main thread and each worker have their own environment).
    static SINK: RefCell<Option<Sink>> = const { RefCell::new(None) };
}

/// Register `sink(message)`, called once for each store warning of every manager built from
/// now on. Called once by `index.js`.
#[napi(js_name = "__setWarningSink")]
pub fn set_warning_sink(sink: Function<FnArgs<(String,)>, ()>) -> napi::Result<()> {
    let r = sink.create_ref()?;
    SINK.with(|s| *s.borrow_mut() = Some(r));
    Ok(())
}

/// Hand `warnings` to the registered sink, if any. A sink that throws (e.g. `--throw-deprecation`
/// style settings turning warnings into errors) makes the constructor throw.
pub fn issue(env: &Env, warnings: Vec<String>) -> napi::Result<()> {
    SINK.with(|s| {
        let s = s.borrow();
        let Some(sink) = s.as_ref() else {
            return Ok(());
        };
        let func = sink.borrow_back(env)?;
        for message in warnings {
            func.call((message,).into())?;
        }
        Ok(())
    })
}
