//! Running an operation: synchronously on the JavaScript thread (in-process stores only), or as
//! a Promise, so a store that waits on the network never blocks the event loop. A Promise's
//! work runs on the store's own pool when it keeps one (Redis: `SessionManager::offload`; many
//! calls then wait at once, pipelined on the store's one connection), else on the libuv thread
//! pool (in-process stores, whose calls are short). Every path catches panics and delivers the
//! operation's events on the JavaScript thread.

use std::marker::PhantomData;

use napi::bindgen_prelude::{AsyncTask, ToNapiValue, TypeName};
use napi::{Env, Task, sys};

use crate::completions;
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

/// A Promise of an operation's result: a task on the libuv pool, or one settled by the store's
/// own pool.
pub enum Pending<'env, T>
where
    T: ToNapiValue + TypeName + Send + 'static,
{
    /// Work on the libuv thread pool (in-process stores).
    Libuv(AsyncTask<Job<T>>),
    /// A Promise its work settles from the store's threads (see `crate::completions`).
    Store(sys::napi_value, PhantomData<&'env T>),
}

impl<T> ToNapiValue for Pending<'_, T>
where
    T: ToNapiValue + TypeName + Send + 'static,
{
    unsafe fn to_napi_value(env: sys::napi_env, val: Self) -> napi::Result<sys::napi_value> {
        match val {
            // SAFETY: `env` is the environment napi-rs hands this conversion, on its thread; the
            // task and the promise were made for that same environment.
            Pending::Libuv(task) => unsafe { AsyncTask::to_napi_value(env, task) },
            // A Promise made on this thread for this environment (`completions::promise`).
            Pending::Store(promise, _) => Ok(promise),
        }
    }
}

/// Check the arguments now (throwing synchronously if they are wrong), then run the work off the
/// event loop (see the module docs); the Promise settles with its result.
pub fn spawn<'env, T>(
    env: &'env Env,
    manager: &tessera::SessionManager,
    prepare: impl FnOnce() -> Outcome<Work<T>>,
) -> napi::Result<Pending<'env, T>>
where
    T: ToNapiValue + TypeName + Send + 'static,
{
    let work = guard(prepare).map_err(|fail| fail.into_napi(env))?;
    if !manager.store_is_networked() {
        return Ok(Pending::Libuv(AsyncTask::new(Job {
            work: Some(work),
            events: Vec::new(),
        })));
    }
    let (settler, promise) = promise(env)?;
    offload(manager, settler, work);
    Ok(promise)
}

/// Settles a Promise made by [`promise`] from any thread; its events are delivered and its
/// error converted on the JavaScript thread.
pub struct Settler<T>
where
    T: ToNapiValue + TypeName + Send + 'static,
{
    pending: completions::Pending,
    _result: PhantomData<fn() -> T>,
}

impl<T> Settler<T>
where
    T: ToNapiValue + TypeName + Send + 'static,
{
    /// Run `work` here, now (catching a panic), and settle with its result.
    pub fn run(self, work: impl FnOnce() -> Outcome<T>) {
        let (result, events) = events::capture(|| guard(work));
        self.pending.settle(Box::new(move |env: Env| {
            events::deliver(&env, events);
            result.map_err(|fail| fail.into_napi(&env))
        }));
    }
}

/// A Promise (to return to JavaScript) and what settles it.
pub fn promise<T>(env: &Env) -> napi::Result<(Settler<T>, Pending<'_, T>)>
where
    T: ToNapiValue + TypeName + Send + 'static,
{
    let (pending, promise) = completions::promise(env)?;
    let settler = Settler {
        pending,
        _result: PhantomData,
    };
    Ok((settler, Pending::Store(promise, PhantomData)))
}

/// Run `work` on the store's pool and settle with its result. A store that has no pool after
/// all (its I/O thread could not start) runs it on a thread of its own: this may be called on
/// the store's I/O thread, which must never wait on the store.
pub fn offload<T>(manager: &tessera::SessionManager, settler: Settler<T>, work: Work<T>)
where
    T: ToNapiValue + TypeName + Send + 'static,
{
    let job = move || settler.run(work);
    if let Err(job) = manager.offload(Box::new(job)) {
        std::thread::spawn(job);
    }
}

/// Check the arguments and run the work here, now; then deliver its events.
pub fn now<T>(env: &Env, prepare: impl FnOnce() -> Outcome<Work<T>>) -> napi::Result<T> {
    let (result, events) = events::capture(|| guard(|| prepare()?()));
    events::deliver(env, events);
    result.map_err(|fail| fail.into_napi(env))
}
