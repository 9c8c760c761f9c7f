//! Running an operation: synchronously on the JavaScript thread (in-process stores only), or as
//! a Promise whose work runs on the libuv thread pool, so a store that waits on the network
//! never blocks the event loop. Both paths catch panics and deliver the operation's events.

use napi::bindgen_prelude::{AsyncTask, ToNapiValue, TypeName};
use napi::{Env, Task};

use crate::errors::{Fail, Outcome, guard};
use crate::events::{self, Captured};

/// The store-touching part of an operation, with its arguments already checked.
pub type Work<T> = Box<dyn FnOnce() -> Outcome<T> + Send + 'static>;

/// An operation for the thread pool.
pub struct Job<T> {
    work: Option<Work<T>>,
    events: Vec<Captured>,
}

impl<T> Task for Job<T>
where
    T: ToNapiValue + TypeName + Send + 'static,
{
    type Output = Outcome<T>;
    type JsValue = T;

    fn compute(&mut self) -> napi::Result<Self::Output> {
        let work = self.work.take();
        let (result, events) = events::capture(|| {
            guard(|| match work {
                Some(work) => work(),
                None => Err(Fail::Core(tessera::Error::internal("a task ran twice"))),
            })
        });
        self.events = events;
        Ok(result)
    }

    fn resolve(&mut self, env: Env, output: Self::Output) -> napi::Result<T> {
        events::deliver(&env, std::mem::take(&mut self.events));
        output.map_err(|fail| fail.into_napi(&env))
    }
}

/// Check the arguments now (throwing synchronously if they are wrong), then run the work on
/// the thread pool; the Promise settles with its result.
pub fn spawn<T>(
    env: &Env,
    prepare: impl FnOnce() -> Outcome<Work<T>>,
) -> napi::Result<AsyncTask<Job<T>>>
where
    T: ToNapiValue + TypeName + Send + 'static,
{
    let work = guard(prepare).map_err(|fail| fail.into_napi(env))?;
    Ok(AsyncTask::new(Job {
        work: Some(work),
        events: Vec::new(),
    }))
}

/// Check the arguments and run the work here, now; then deliver its events.
pub fn now<T>(env: &Env, prepare: impl FnOnce() -> Outcome<Work<T>>) -> napi::Result<T> {
    let (result, events) = events::capture(|| guard(|| prepare()?()));
    events::deliver(env, events);
    result.map_err(|fail| fail.into_napi(env))
}
