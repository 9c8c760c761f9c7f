//! Writes to a session's data, addressed by the public id `validate` returned.
//!
//! Per-key writes exist so that two concurrent requests setting different keys do not overwrite
//! each other. A write to a session that has ended (logged out, revoked, expired) fails with
//! `TESSERA_STATUS_REJECTED` and never re-creates it.

use std::ffi::c_char;

use serde_json::Value;
use tessera_core::{DataOp, SessionId};

use crate::boundary::{OptOut, arg_ref, arg_str};
use crate::manager::{reject_into, tessera_manager};
use crate::status::{Failure, Outcome, tessera_reason, tessera_status};

/// Apply `op` to the session `id`, reporting a rejection through `reason_out`.
fn update(
    m: &tessera_manager,
    id: &str,
    op: DataOp,
    reason_out: OptOut<tessera_reason>,
) -> Outcome {
    let id = SessionId::parse_hex(id)?;
    match m.core.update_data(&id, op) {
        Ok(_) => Ok(tessera_status::Ok),
        Err(e) => Err(reject_into(e, reason_out)),
    }
}

/// Set data key `key` of session `id` (64 hex digits, from `tessera_session_id`) to the JSON
/// value `value_json` (any JSON text: `"dark"` with its quotes, `42`, `[1,2]`, `null`, ...).
///
/// Errors: `REJECTED` if the session has ended (reason in `*reason_out`, may be NULL);
/// `INVALID_ARGUMENT` for an empty key, a malformed id or text that is not JSON;
/// `DATA_TOO_LARGE` if the data would exceed `max_data_bytes`; `STORE_UNAVAILABLE`.
///
/// # Safety
/// `manager` must be NULL or a live handle; strings NULL or NUL-terminated; `reason_out` NULL or
/// writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tessera_manager_data_set(
    manager: *const tessera_manager,
    id: *const c_char,
    key: *const c_char,
    value_json: *const c_char,
    reason_out: *mut tessera_reason,
) -> tessera_status {
    ffi_boundary!({
        // SAFETY: the pointers are NULL or valid (this function's contract).
        let (m, id, key, value, reason) = unsafe {
            (
                arg_ref(manager, "manager")?,
                arg_str(id, "id")?,
                arg_str(key, "key")?,
                arg_str(value_json, "value_json")?,
                OptOut::new(reason_out),
            )
        };
        let value: Value = serde_json::from_str(value)
            .map_err(|e| Failure::invalid_argument(format!("value_json is not valid JSON: {e}")))?;
        update(m, id, DataOp::Set(key.to_owned(), value), reason)
    })
}

/// Remove data key `key` of session `id` (no error if it is absent). Errors as for
/// `tessera_manager_data_set`.
///
/// # Safety
/// `manager` must be NULL or a live handle; strings NULL or NUL-terminated; `reason_out` NULL or
/// writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tessera_manager_data_remove(
    manager: *const tessera_manager,
    id: *const c_char,
    key: *const c_char,
    reason_out: *mut tessera_reason,
) -> tessera_status {
    ffi_boundary!({
        // SAFETY: the pointers are NULL or valid (this function's contract).
        let (m, id, key, reason) = unsafe {
            (
                arg_ref(manager, "manager")?,
                arg_str(id, "id")?,
                arg_str(key, "key")?,
                OptOut::new(reason_out),
            )
        };
        update(m, id, DataOp::Remove(key.to_owned()), reason)
    })
}

/// Replace all data of session `id` with `data_json`, JSON object text (`{}` clears it).
/// Errors as for `tessera_manager_data_set`, and `INVALID_ARGUMENT` for text that is not a JSON
/// object.
///
/// # Safety
/// `manager` must be NULL or a live handle; strings NULL or NUL-terminated; `reason_out` NULL or
/// writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tessera_manager_data_replace(
    manager: *const tessera_manager,
    id: *const c_char,
    data_json: *const c_char,
    reason_out: *mut tessera_reason,
) -> tessera_status {
    ffi_boundary!({
        // SAFETY: the pointers are NULL or valid (this function's contract).
        let (m, id, data, reason) = unsafe {
            (
                arg_ref(manager, "manager")?,
                arg_str(id, "id")?,
                arg_str(data_json, "data_json")?,
                OptOut::new(reason_out),
            )
        };
        let data = tessera_core::data::parse_object(data)?;
        update(m, id, DataOp::Replace(data), reason)
    })
}
