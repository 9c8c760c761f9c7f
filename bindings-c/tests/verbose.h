/*
 * verbose.h: a verbose mode for the C test programs, for people reading a failure and for
 * `make test-redaction` (mk/redaction.mk), which captures everything they print and fails if a
 * session token appears in it. check.h includes it (conformance.c includes it directly).
 *
 *   TESSERA_TEST_VERBOSE=1         on stderr: every event of every manager the program makes (an
 *                                  extra listener is added by tessera_manager_new: kind, id,
 *                                  previous id, user, reason, time), and tessera_last_error()
 *                                  after every call that does not return TESSERA_STATUS_OK and
 *                                  after every *_free that refused its pointer
 *   TESSERA_TEST_TOKENS_FILE=PATH  append every session token the program obtains (new tokens,
 *                                  Set-Cookie values, tokens found in Cookie headers) to PATH,
 *                                  one per line, for the redaction scan to look for
 *
 * Both work by wrapping every tessera_* call of the ABI in a macro of the same name (a
 * function-like macro is not expanded inside its own expansion, so the wrapper calls the real
 * function); tests/run.sh checks that every call of the header returning a tessera_status is
 * wrapped. Nothing changes when neither variable is set, except a getenv on the first call.
 */
#ifndef TESSERA_VERBOSE_H
#define TESSERA_VERBOSE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tessera.h"

static atomic_int verbose_state = -1; /* -1 not read yet, 0 off, 1 on */
static FILE *verbose_tokens;
static pthread_once_t verbose_tokens_once = PTHREAD_ONCE_INIT;

static inline int verbose_on(void) {
    int on = atomic_load(&verbose_state);
    if (on < 0) {
        const char *env = getenv("TESSERA_TEST_VERBOSE");
        on = env != NULL && env[0] != '\0' && strcmp(env, "0") != 0;
        atomic_store(&verbose_state, on);
    }
    return on;
}

static void verbose_open_tokens(void) {
    const char *path = getenv("TESSERA_TEST_TOKENS_FILE");
    if (path != NULL && path[0] != '\0') {
        verbose_tokens = fopen(path, "a");
        if (verbose_tokens == NULL) fprintf(stderr, "verbose.h: cannot open %s\n", path);
    }
}

/* Record a token (or anything that may be one: the scan keeps only canonical tokens). */
static inline void verbose_record_token(const char *text, size_t len) {
    pthread_once(&verbose_tokens_once, verbose_open_tokens);
    if (verbose_tokens == NULL || text == NULL || len == 0) return;
    /* one fprintf per line: stdio locks the stream, so threads do not interleave */
    fprintf(verbose_tokens, "%.*s\n", (int)len, text);
    fflush(verbose_tokens);
}

/* The token in a Set-Cookie value: between the first '=' and the first ';'. */
static inline void verbose_record_cookie(const char *set_cookie) {
    const char *eq = set_cookie != NULL ? strchr(set_cookie, '=') : NULL;
    if (eq == NULL) return;
    verbose_record_token(eq + 1, strcspn(eq + 1, ";"));
}

static inline const char *verbose_or_dash(const char *s) { return s != NULL ? s : "-"; }

static void verbose_event(void *user_data, const tessera_event *event) {
    (void)user_data;
    fprintf(stderr,
            "[tessera event] %s id=%s previous_id=%s user=%s reason=%s detail=%s at=%llu\n",
            verbose_or_dash(tessera_event_kind(event)), verbose_or_dash(tessera_event_id(event)),
            verbose_or_dash(tessera_event_previous_id(event)),
            verbose_or_dash(tessera_event_user(event)),
            verbose_or_dash(tessera_event_reason(event)),
            verbose_or_dash(tessera_event_detail(event)),
            (unsigned long long)tessera_event_at(event));
}

static inline tessera_status verbose_status(const char *call, tessera_status status) {
    if (status != TESSERA_STATUS_OK && verbose_on()) {
        const char *code = tessera_status_str((int)status);
        fprintf(stderr, "[tessera] %s returned %s; last error: %s\n", call,
                code != NULL ? code : "(not a status)", tessera_last_error());
    }
    return status;
}

#define VERBOSE_CALL(f, ...) verbose_status(#f, (f)(__VA_ARGS__))

/* The calls that hand out tokens, and tessera_manager_new, which adds the verbose listener. */
static inline tessera_status verbose_manager_new(const char *options_json,
                                                 const tessera_clock *clock,
                                                 tessera_manager **manager_out) {
    tessera_status st =
        verbose_status("tessera_manager_new", tessera_manager_new(options_json, clock, manager_out));
    if (st == TESSERA_STATUS_OK && verbose_on())
        verbose_status("tessera_manager_add_listener",
                       tessera_manager_add_listener(*manager_out, verbose_event, NULL));
    return st;
}

static inline tessera_status verbose_session_new_token(const tessera_session *session,
                                                       char *token_out, size_t token_out_len) {
    tessera_status st = verbose_status("tessera_session_new_token",
                                       tessera_session_new_token(session, token_out, token_out_len));
    if (st == TESSERA_STATUS_OK) verbose_record_token(token_out, strlen(token_out));
    return st;
}

/* The manager-level sign-ins of step-up return sessions whose new tokens the tests read through
 * tessera_session_new_token (recorded there). */
#define tessera_manager_login_with(...) VERBOSE_CALL(tessera_manager_login_with, __VA_ARGS__)
#define tessera_manager_reauthenticate(...) \
    VERBOSE_CALL(tessera_manager_reauthenticate, __VA_ARGS__)

static inline tessera_status verbose_set_cookie(const tessera_manager *manager, const char *token,
                                                char **header_out) {
    tessera_status st = verbose_status("tessera_manager_set_cookie",
                                       tessera_manager_set_cookie(manager, token, header_out));
    if (st == TESSERA_STATUS_OK) verbose_record_cookie(*header_out);
    return st;
}

static inline tessera_status verbose_set_cookie_for_session(const tessera_manager *manager,
                                                            const tessera_session *session,
                                                            char **header_out) {
    tessera_status st =
        verbose_status("tessera_manager_set_cookie_for_session",
                       tessera_manager_set_cookie_for_session(manager, session, header_out));
    if (st == TESSERA_STATUS_OK) verbose_record_cookie(*header_out);
    return st;
}

static inline tessera_status verbose_cookie_token(const tessera_manager *manager,
                                                  const char *cookie_header, char *token_out,
                                                  size_t token_out_len, tessera_cookie *found_out) {
    tessera_status st = verbose_status(
        "tessera_manager_cookie_token",
        tessera_manager_cookie_token(manager, cookie_header, token_out, token_out_len, found_out));
    if (st == TESSERA_STATUS_OK) verbose_record_token(token_out, strlen(token_out));
    return st;
}

static inline tessera_status verbose_response_set_cookie(const tessera_response *response,
                                                         const char **set_cookie_out) {
    tessera_status st = verbose_status("tessera_response_set_cookie",
                                       tessera_response_set_cookie(response, set_cookie_out));
    if (st == TESSERA_STATUS_OK && *set_cookie_out != NULL) verbose_record_cookie(*set_cookie_out);
    return st;
}

static inline tessera_status verbose_response_header(const tessera_response *response,
                                                     size_t index, const char **name_out,
                                                     const char **value_out) {
    tessera_status st = verbose_status("tessera_response_header",
                                       tessera_response_header(response, index, name_out,
                                                               value_out));
    if (st == TESSERA_STATUS_OK && strcmp(*name_out, "Set-Cookie") == 0)
        verbose_record_cookie(*value_out);
    return st;
}

/* A DBSC endpoint's headers: a Set-Cookie line there holds a bound cookie. */
static inline tessera_status verbose_endpoint_response_header(
    const tessera_endpoint_response *response, size_t index, const char **name_out,
    const char **value_out) {
    tessera_status st = verbose_status(
        "tessera_endpoint_response_header",
        tessera_endpoint_response_header(response, index, name_out, value_out));
    if (st == TESSERA_STATUS_OK && strcmp(*name_out, "Set-Cookie") == 0)
        verbose_record_cookie(*value_out);
    return st;
}

/* A *_free that refuses its pointer (not a live handle) sets the last error: show it. */
#define VERBOSE_FREE(f, type)                                                                  \
    static inline void verbose_##f(type handle) {                                              \
        if (!verbose_on()) {                                                                   \
            f(handle);                                                                         \
            return;                                                                            \
        }                                                                                      \
        const char *before = tessera_last_error();                                             \
        size_t len = strlen(before);                                                           \
        char *copy = malloc(len + 1);                                                          \
        if (copy != NULL) memcpy(copy, before, len + 1);                                       \
        f(handle);                                                                             \
        const char *after = tessera_last_error();                                              \
        if (copy == NULL || strcmp(copy, after) != 0)                                          \
            fprintf(stderr, "[tessera] %s refused; last error: %s\n", #f, after);              \
        free(copy);                                                                            \
    }
VERBOSE_FREE(tessera_manager_free, tessera_manager *)
VERBOSE_FREE(tessera_clock_free, tessera_clock *)
VERBOSE_FREE(tessera_session_free, tessera_session *)
VERBOSE_FREE(tessera_string_free, char *)
VERBOSE_FREE(tessera_request_free, tessera_request *)
VERBOSE_FREE(tessera_response_free, tessera_response *)
VERBOSE_FREE(tessera_endpoint_response_free, tessera_endpoint_response *)
#undef VERBOSE_FREE

#define tessera_manager_new(...) verbose_manager_new(__VA_ARGS__)
#define tessera_session_new_token(...) verbose_session_new_token(__VA_ARGS__)
#define tessera_manager_set_cookie(...) verbose_set_cookie(__VA_ARGS__)
#define tessera_manager_set_cookie_for_session(...) verbose_set_cookie_for_session(__VA_ARGS__)
#define tessera_manager_cookie_token(...) verbose_cookie_token(__VA_ARGS__)
#define tessera_manager_free(...) verbose_tessera_manager_free(__VA_ARGS__)
#define tessera_clock_free(...) verbose_tessera_clock_free(__VA_ARGS__)
#define tessera_session_free(...) verbose_tessera_session_free(__VA_ARGS__)
#define tessera_string_free(...) verbose_tessera_string_free(__VA_ARGS__)
#define tessera_request_free(...) verbose_tessera_request_free(__VA_ARGS__)
#define tessera_response_free(...) verbose_tessera_response_free(__VA_ARGS__)
#define tessera_response_set_cookie(...) verbose_response_set_cookie(__VA_ARGS__)
#define tessera_response_header(...) verbose_response_header(__VA_ARGS__)
#define tessera_endpoint_response_free(...) verbose_tessera_endpoint_response_free(__VA_ARGS__)
#define tessera_endpoint_response_header(...) verbose_endpoint_response_header(__VA_ARGS__)

/* Every other call that returns a tessera_status. */
#define tessera_clock_new(...) VERBOSE_CALL(tessera_clock_new, __VA_ARGS__)
#define tessera_clock_advance(...) VERBOSE_CALL(tessera_clock_advance, __VA_ARGS__)
#define tessera_clock_set(...) VERBOSE_CALL(tessera_clock_set, __VA_ARGS__)
#define tessera_clock_now(...) VERBOSE_CALL(tessera_clock_now, __VA_ARGS__)
#define tessera_manager_clear_cookie(...) VERBOSE_CALL(tessera_manager_clear_cookie, __VA_ARGS__)
#define tessera_manager_data_set(...) VERBOSE_CALL(tessera_manager_data_set, __VA_ARGS__)
#define tessera_manager_data_remove(...) VERBOSE_CALL(tessera_manager_data_remove, __VA_ARGS__)
#define tessera_manager_data_replace(...) VERBOSE_CALL(tessera_manager_data_replace, __VA_ARGS__)
#define tessera_manager_add_listener(...) VERBOSE_CALL(tessera_manager_add_listener, __VA_ARGS__)
#define tessera_manager_create(...) VERBOSE_CALL(tessera_manager_create, __VA_ARGS__)
#define tessera_manager_validate(...) VERBOSE_CALL(tessera_manager_validate, __VA_ARGS__)
#define tessera_manager_validate_in(...) VERBOSE_CALL(tessera_manager_validate_in, __VA_ARGS__)
#define tessera_manager_rotate(...) VERBOSE_CALL(tessera_manager_rotate, __VA_ARGS__)
#define tessera_manager_login(...) VERBOSE_CALL(tessera_manager_login, __VA_ARGS__)
#define tessera_manager_logout(...) VERBOSE_CALL(tessera_manager_logout, __VA_ARGS__)
#define tessera_manager_revoke(...) VERBOSE_CALL(tessera_manager_revoke, __VA_ARGS__)
#define tessera_manager_revoke_user(...) VERBOSE_CALL(tessera_manager_revoke_user, __VA_ARGS__)
#define tessera_manager_revoke_user_except(...) VERBOSE_CALL(tessera_manager_revoke_user_except, __VA_ARGS__)
#define tessera_manager_revoke_all(...) VERBOSE_CALL(tessera_manager_revoke_all, __VA_ARGS__)
#define tessera_manager_list_user(...) VERBOSE_CALL(tessera_manager_list_user, __VA_ARGS__)
#define tessera_manager_csrf_token(...) VERBOSE_CALL(tessera_manager_csrf_token, __VA_ARGS__)
#define tessera_manager_verify_csrf(...) VERBOSE_CALL(tessera_manager_verify_csrf, __VA_ARGS__)
#define tessera_manager_sweep(...) VERBOSE_CALL(tessera_manager_sweep, __VA_ARGS__)
#define tessera_manager_store_len(...) VERBOSE_CALL(tessera_manager_store_len, __VA_ARGS__)
#define tessera_manager_store_is_shared(...) \
    VERBOSE_CALL(tessera_manager_store_is_shared, __VA_ARGS__)
#define tessera_manager_forked(...) VERBOSE_CALL(tessera_manager_forked, __VA_ARGS__)
#define tessera_manager_store_warnings(...) \
    VERBOSE_CALL(tessera_manager_store_warnings, __VA_ARGS__)
#define tessera_manager_id_of(...) VERBOSE_CALL(tessera_manager_id_of, __VA_ARGS__)
#define tessera_session_id(...) VERBOSE_CALL(tessera_session_id, __VA_ARGS__)
#define tessera_session_user(...) VERBOSE_CALL(tessera_session_user, __VA_ARGS__)
#define tessera_session_has_new_token(...) VERBOSE_CALL(tessera_session_has_new_token, __VA_ARGS__)
#define tessera_session_expires_at(...) VERBOSE_CALL(tessera_session_expires_at, __VA_ARGS__)
#define tessera_session_absolute_deadline(...) VERBOSE_CALL(tessera_session_absolute_deadline, __VA_ARGS__)
#define tessera_session_created_at(...) VERBOSE_CALL(tessera_session_created_at, __VA_ARGS__)
#define tessera_session_last_seen(...) VERBOSE_CALL(tessera_session_last_seen, __VA_ARGS__)
#define tessera_session_secure(...) VERBOSE_CALL(tessera_session_secure, __VA_ARGS__)
#define tessera_session_data(...) VERBOSE_CALL(tessera_session_data, __VA_ARGS__)
#define tessera_session_get(...) VERBOSE_CALL(tessera_session_get, __VA_ARGS__)
#define tessera_session_csrf_token(...) VERBOSE_CALL(tessera_session_csrf_token, __VA_ARGS__)
#define tessera_session_verify_csrf(...) VERBOSE_CALL(tessera_session_verify_csrf, __VA_ARGS__)
#define tessera_request_begin(...) VERBOSE_CALL(tessera_request_begin, __VA_ARGS__)
#define tessera_request_user(...) VERBOSE_CALL(tessera_request_user, __VA_ARGS__)
#define tessera_request_data_json(...) VERBOSE_CALL(tessera_request_data_json, __VA_ARGS__)
#define tessera_request_id(...) VERBOSE_CALL(tessera_request_id, __VA_ARGS__)
#define tessera_request_ensure_id(...) VERBOSE_CALL(tessera_request_ensure_id, __VA_ARGS__)
#define tessera_request_reason(...) VERBOSE_CALL(tessera_request_reason, __VA_ARGS__)
#define tessera_request_csrf(...) VERBOSE_CALL(tessera_request_csrf, __VA_ARGS__)
#define tessera_request_verify_csrf(...) VERBOSE_CALL(tessera_request_verify_csrf, __VA_ARGS__)
#define tessera_request_ended(...) VERBOSE_CALL(tessera_request_ended, __VA_ARGS__)
#define tessera_request_login(...) VERBOSE_CALL(tessera_request_login, __VA_ARGS__)
#define tessera_request_logout(...) VERBOSE_CALL(tessera_request_logout, __VA_ARGS__)
#define tessera_request_regenerate(...) VERBOSE_CALL(tessera_request_regenerate, __VA_ARGS__)
#define tessera_request_csrf_token(...) VERBOSE_CALL(tessera_request_csrf_token, __VA_ARGS__)
#define tessera_request_set_expiry(...) VERBOSE_CALL(tessera_request_set_expiry, __VA_ARGS__)
#define tessera_request_finish(...) VERBOSE_CALL(tessera_request_finish, __VA_ARGS__)
#define tessera_response_header_count(...) VERBOSE_CALL(tessera_response_header_count, __VA_ARGS__)
#define tessera_response_no_store(...) VERBOSE_CALL(tessera_response_no_store, __VA_ARGS__)
#define tessera_response_user(...) VERBOSE_CALL(tessera_response_user, __VA_ARGS__)
#define tessera_response_session_id(...) VERBOSE_CALL(tessera_response_session_id, __VA_ARGS__)
#define tessera_response_ended(...) VERBOSE_CALL(tessera_response_ended, __VA_ARGS__)
/* Device-bound sessions and step-up. */
#define tessera_dbsc_register(...) VERBOSE_CALL(tessera_dbsc_register, __VA_ARGS__)
#define tessera_dbsc_refresh(...) VERBOSE_CALL(tessera_dbsc_refresh, __VA_ARGS__)
#define tessera_dbsc_route_of(...) VERBOSE_CALL(tessera_dbsc_route_of, __VA_ARGS__)
#define tessera_endpoint_response_status(...) \
    VERBOSE_CALL(tessera_endpoint_response_status, __VA_ARGS__)
#define tessera_endpoint_response_header_count(...) \
    VERBOSE_CALL(tessera_endpoint_response_header_count, __VA_ARGS__)
#define tessera_endpoint_response_body(...) \
    VERBOSE_CALL(tessera_endpoint_response_body, __VA_ARGS__)
#define tessera_manager_unbind(...) VERBOSE_CALL(tessera_manager_unbind, __VA_ARGS__)
#define tessera_manager_require_recent(...) \
    VERBOSE_CALL(tessera_manager_require_recent, __VA_ARGS__)
#define tessera_request_binding(...) VERBOSE_CALL(tessera_request_binding, __VA_ARGS__)
#define tessera_request_offer_binding(...) VERBOSE_CALL(tessera_request_offer_binding, __VA_ARGS__)
#define tessera_request_login_with(...) VERBOSE_CALL(tessera_request_login_with, __VA_ARGS__)
#define tessera_request_reauthenticate(...) \
    VERBOSE_CALL(tessera_request_reauthenticate, __VA_ARGS__)
#define tessera_request_require_recent(...) \
    VERBOSE_CALL(tessera_request_require_recent, __VA_ARGS__)
#define tessera_request_authenticated(...) \
    VERBOSE_CALL(tessera_request_authenticated, __VA_ARGS__)
#define tessera_session_authenticated(...) \
    VERBOSE_CALL(tessera_session_authenticated, __VA_ARGS__)

#endif
