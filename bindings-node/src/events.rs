//! Lifecycle events delivered to JavaScript listeners.
//!
//! The core calls listeners synchronously on the thread that made the transition. Here:
//! - during an operation the binding runs (a `…Sync` call on the JavaScript thread, or a
//!   Promise's work on the libuv pool), events are captured and handed to the listeners on the
//!   JavaScript thread as soon as the operation is over (before its Promise settles), in order;
//! - events from any other thread (the core's background sweeper) go through a
//!   `ThreadsafeFunction`, which queues them for the JavaScript thread.
//!
//! Either way a listener that throws is reported with `process.emitWarning` and the exception
//! goes no further: an audit hook never fails a request.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};

use napi::bindgen_prelude::{FnArgs, Function, FunctionRef, JsObjectValue, Object, Unknown};
use napi::threadsafe_function::{
    ThreadsafeFunction, ThreadsafeFunctionCallMode, UnknownReturnValue,
};
use napi::{Env, Status};
use napi_derive::napi;

use crate::clock::millis_to_js;

/// One lifecycle transition, as listeners receive it. Never contains a token.
#[napi(object, object_from_js = false)]
#[derive(Clone)]
pub struct SessionEvent {
    /// `created`, `rotated`, `login`, `logout`, `revoked`, `expired`, `rejected`, `evicted`;
    /// device-bound sessions: `registered`, `refreshed`, `proof_failed`, `binding_missing`,
    /// `unbound`; step-up: `reauthenticated`.
    #[napi(
        ts_type = "'created' | 'rotated' | 'login' | 'logout' | 'revoked' | 'expired' | 'rejected' | 'evicted' | 'registered' | 'refreshed' | 'proof_failed' | 'binding_missing' | 'unbound' | 'reauthenticated'"
    )]
    pub kind: String,
    /// The session's public id (after the transition; before it, for endings). `null` for a
    /// malformed token or for `revokeAll`.
    pub id: Option<String>,
    /// For rotations and logins, the id it had before.
    pub previous_id: Option<String>,
    /// The user, if known.
    pub user: Option<String>,
    /// For `expired` and `rejected`: `malformed`, `unknown`, `expired_idle`, `expired_absolute`
    /// or `binding_missing`.
    #[napi(
        ts_type = "'malformed' | 'unknown' | 'expired_idle' | 'expired_absolute' | 'binding_missing'"
    )]
    pub reason: Option<String>,
    /// More about what happened, as a stable code: the algorithm of `registered`/`refreshed`,
    /// why for `proof_failed` (`bad_signature`, `unknown_challenge`, …) and `binding_missing`
    /// (`absent`, `expired`, `mismatch`, `ambiguous`), `login`/`app` for `unbound`. Never a
    /// secret.
    pub detail: Option<String>,
    /// When, in milliseconds since the epoch, by the manager's clock.
    pub at: f64,
}

impl From<&tessera::Event> for SessionEvent {
    fn from(e: &tessera::Event) -> Self {
        SessionEvent {
            kind: e.kind.code().to_owned(),
            id: e.id.as_ref().map(crate::compact::id_hex),
            previous_id: e.previous_id.as_ref().map(crate::compact::id_hex),
            user: e.user.as_deref().map(str::to_owned),
            reason: e.reason.map(|r| r.code().to_owned()),
            detail: e.detail.map(str::to_owned),
            at: millis_to_js(e.at),
        }
    }
}

/// An event waiting for the listener `listener` on the JavaScript thread.
pub struct Captured {
    listener: u64,
    event: SessionEvent,
}

type Tsfn = ThreadsafeFunction<SessionEvent, UnknownReturnValue, SessionEvent, Status, false, true>;

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

thread_local! {
    /// Events of the operation running on this thread, if it captures them.
    static CAPTURE: RefCell<Option<Vec<Captured>>> = const { RefCell::new(None) };
    /// On a JavaScript thread: the listeners registered from it, by id.
    static LISTENERS: RefCell<HashMap<u64, FunctionRef<SessionEvent, UnknownReturnValue>>> =
        RefCell::new(HashMap::new());
}

/// Register `listener` with `manager`; returns its id (to drop it with the manager).
pub fn register(
    manager: &tessera::SessionManager,
    listener: Function<SessionEvent, UnknownReturnValue>,
) -> napi::Result<u64> {
    let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    let tsfn: Tsfn = listener
        .build_threadsafe_function::<SessionEvent>()
        // Weak: a registered listener does not keep the process alive.
        .weak::<true>()
        .build_callback(|ctx| Ok(ctx.value))?;
    LISTENERS.with(|l| -> napi::Result<()> {
        l.borrow_mut().insert(id, listener.create_ref()?);
        Ok(())
    })?;
    manager.add_listener(move |event| {
        let captured = CAPTURE.with(|c| match c.borrow_mut().as_mut() {
            Some(list) => {
                list.push(Captured {
                    listener: id,
                    event: event.into(),
                });
                true
            }
            None => false,
        });
        if !captured {
            tsfn.call_with_return_value(
                event.into(),
                ThreadsafeFunctionCallMode::NonBlocking,
                |result, env| {
                    if let Err(e) = result {
                        report(&env, &e);
                    }
                    Ok(())
                },
            );
        }
    });
    Ok(id)
}

/// Forget listeners (their manager is gone).
pub fn unregister(ids: &[u64]) {
    // `try_with`: during thread teardown the map may already be gone, and that is fine.
    let _ = LISTENERS.try_with(|l| {
        if let Ok(mut l) = l.try_borrow_mut() {
            for id in ids {
                l.remove(id);
            }
        }
    });
}

/// Run `f` capturing the events it causes on this thread.
pub fn capture<T>(f: impl FnOnce() -> T) -> (T, Vec<Captured>) {
    let outer = CAPTURE.with(|c| c.borrow_mut().replace(Vec::new()));
    let result = f();
    let events = CAPTURE.with(|c| std::mem::replace(&mut *c.borrow_mut(), outer));
    (result, events.unwrap_or_default())
}

/// Hand captured events to their listeners (on the JavaScript thread).
pub fn deliver(env: &Env, events: Vec<Captured>) {
    for Captured { listener, event } in events {
        let func = LISTENERS.with(|l| {
            l.borrow()
                .get(&listener)
                .and_then(|f| f.borrow_back(env).ok())
        });
        if let Some(func) = func
            && let Err(e) = func.call(event)
        {
            report(env, &e);
        }
    }
}

/// Report a listener's exception as a process warning; never rethrow it.
fn report(env: &Env, error: &napi::Error) {
    let message = format!("a Tessera event listener threw: {}", error.reason);
    let warned = (|| -> napi::Result<()> {
        let global = env.get_global()?;
        let process: Object = global.get_named_property("process")?;
        let emit: Function<FnArgs<(String, Object)>, Unknown> =
            process.get_named_property("emitWarning")?;
        let mut options = Object::new(env)?;
        options.set("type", "TesseraListenerWarning")?;
        options.set("code", "TESSERA_LISTENER_THREW")?;
        emit.apply(process, (message.clone(), options).into())?;
        Ok(())
    })();
    if warned.is_err() {
        eprintln!("{message}");
    }
}
