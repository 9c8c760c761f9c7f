/*
 * test_dbsc.c: the C ABI of device-bound sessions and step-up (issue 15) on a manual clock:
 * the enums' numbers and strings, routing, the two endpoints' answers that need no browser key
 * (plain HTTP, no proof, no session id, no session), the endpoint response's accessors, step-up
 * (login_with, require_recent, reauthenticate, authenticated) through the request protocol and
 * for a token, unbind, the listing's new fields, the events' detail — and every NULL pointer,
 * number out of range and bad JSON refused with INVALID_ARGUMENT, nothing written.
 * The browser's side of DBSC (keys, proofs) is driven over HTTP by tests/test_dbsc.py.
 */
#include <stdint.h>

#include "check.h"

#define START 1700000000000ULL
#define DBSC_OPTIONS "{\"sweep_interval_ms\": null, \"dbsc\": true}"

/* ---- helpers -------------------------------------------------------------------------- */

struct events {
    int count;
    char kind[64][24];
    char detail[64][40];
};

static void on_event(void *user_data, const tessera_event *event) {
    struct events *log = user_data;
    if (log->count >= 64) return;
    const char *detail = tessera_event_detail(event);
    snprintf(log->kind[log->count], sizeof log->kind[0], "%s", tessera_event_kind(event));
    snprintf(log->detail[log->count], sizeof log->detail[0], "%s", detail ? detail : "");
    log->count++;
}

static int find_event(const struct events *log, const char *kind) {
    for (int i = 0; i < log->count; i++)
        if (strcmp(log->kind[i], kind) == 0) return i;
    return -1;
}

/* The value of the first header `name` of a finished request's response, or NULL. */
static const char *response_header(const tessera_response *resp, const char *name) {
    size_t count = 0;
    CHECK_OK(tessera_response_header_count(resp, &count));
    for (size_t i = 0; i < count; i++) {
        const char *n = NULL, *v = NULL;
        CHECK_OK(tessera_response_header(resp, i, &n, &v));
        if (strcmp(n, name) == 0) return v;
    }
    return NULL;
}

static const char *endpoint_header(const tessera_endpoint_response *resp, const char *name) {
    size_t count = 0;
    CHECK_OK(tessera_endpoint_response_header_count(resp, &count));
    for (size_t i = 0; i < count; i++) {
        const char *n = NULL, *v = NULL;
        CHECK_OK(tessera_endpoint_response_header(resp, i, &n, &v));
        if (strcmp(n, name) == 0) return v;
    }
    return NULL;
}

/* The `name=value` pair of a Set-Cookie line, as a Cookie header. */
static void cookie_of(const char *set_cookie, char *out, size_t len) {
    snprintf(out, len, "%.*s", (int)strcspn(set_cookie, ";"), set_cookie);
}

static int endpoint_status(const tessera_endpoint_response *resp) {
    int status = -1;
    CHECK_OK(tessera_endpoint_response_status(resp, &status));
    return status;
}

static const char *endpoint_body(const tessera_endpoint_response *resp) {
    const char *body = NULL;
    size_t len = 99;
    CHECK_OK(tessera_endpoint_response_body(resp, &body, &len));
    CHECK(body != NULL && strlen(body) == len);
    return body;
}

/* Sign `user` in over HTTPS with this level and amr; the new Cookie header goes to `cookie`. */
static void sign_in(tessera_manager *m, const char *user, int level, const char *amr,
                    char *cookie, size_t cookie_len, int *offered) {
    tessera_request *r = NULL;
    tessera_response *resp = NULL;
    CHECK_OK(tessera_request_begin(m, NULL, true, "POST", "ua", NULL, &r));
    CHECK_OK(tessera_request_login_with(r, m, user, level, amr));
    CHECK_OK(tessera_request_finish(r, m, NULL, TESSERA_AUTH_UNCHANGED, NULL, false,
                                    TESSERA_EXPIRY_NONE, 0, false, false, &resp));
    const char *set = NULL;
    CHECK_OK(tessera_response_set_cookie(resp, &set));
    CHECK(set != NULL);
    if (set != NULL) cookie_of(set, cookie, cookie_len);
    if (offered != NULL) *offered = response_header(resp, "Secure-Session-Registration") != NULL;
    tessera_response_free(resp);
}

static void finish_quietly(tessera_request *r, tessera_manager *m) {
    tessera_response *resp = NULL;
    CHECK_OK(tessera_request_finish(r, m, NULL, TESSERA_AUTH_UNCHANGED, NULL, false,
                                    TESSERA_EXPIRY_NONE, 0, false, false, &resp));
    tessera_response_free(resp);
}

/* ---- the tests ------------------------------------------------------------------------ */

static void test_enums(void) {
    CHECK(TESSERA_BINDING_UNBOUND == 0 && TESSERA_BINDING_PENDING == 1 &&
          TESSERA_BINDING_FRESH == 2);
    CHECK(TESSERA_FRESHNESS_ALLOWED == 0 && TESSERA_FRESHNESS_ANONYMOUS == 1 &&
          TESSERA_FRESHNESS_STALE == 2 && TESSERA_FRESHNESS_LEVEL == 3);
    CHECK(TESSERA_DBSC_ROUTE_NONE == 0 && TESSERA_DBSC_ROUTE_REGISTER == 1 &&
          TESSERA_DBSC_ROUTE_REFRESH == 2);
    CHECK(TESSERA_REASON_BINDING_MISSING == 5);
    CHECK_STR(tessera_binding_str(TESSERA_BINDING_UNBOUND), "unbound");
    CHECK_STR(tessera_binding_str(TESSERA_BINDING_PENDING), "pending");
    CHECK_STR(tessera_binding_str(TESSERA_BINDING_FRESH), "fresh");
    CHECK_STR(tessera_freshness_str(TESSERA_FRESHNESS_ALLOWED), "allowed");
    CHECK_STR(tessera_freshness_str(TESSERA_FRESHNESS_ANONYMOUS), "anonymous");
    CHECK_STR(tessera_freshness_str(TESSERA_FRESHNESS_STALE), "stale");
    CHECK_STR(tessera_freshness_str(TESSERA_FRESHNESS_LEVEL), "level");
    CHECK_STR(tessera_reason_str(TESSERA_REASON_BINDING_MISSING), "binding_missing");
    /* numbers that are not values */
    CHECK(tessera_binding_str(3) == NULL && tessera_binding_str(-1) == NULL);
    CHECK(tessera_freshness_str(4) == NULL && tessera_freshness_str(1 << 30) == NULL);
    CHECK(tessera_reason_str(6) == NULL);
}

static void test_routes(void) {
    tessera_manager *on = NULL, *off = NULL;
    CHECK_OK(tessera_manager_new(DBSC_OPTIONS, NULL, &on));
    CHECK_OK(tessera_manager_new("{\"sweep_interval_ms\": null}", NULL, &off));
    tessera_dbsc_route route = (tessera_dbsc_route)7;
    CHECK_OK(tessera_dbsc_route_of(on, "/_tessera/dbsc/register", &route));
    CHECK(route == TESSERA_DBSC_ROUTE_REGISTER);
    CHECK_OK(tessera_dbsc_route_of(on, "/_tessera/dbsc/refresh", &route));
    CHECK(route == TESSERA_DBSC_ROUTE_REFRESH);
    const char *others[] = {"/", "/_tessera/dbsc", "/_tessera/dbsc/", "/_tessera/dbsc/registerx",
                            "/x/_tessera/dbsc/refresh", ""};
    for (size_t i = 0; i < sizeof others / sizeof others[0]; i++) {
        route = (tessera_dbsc_route)7;
        CHECK_OK(tessera_dbsc_route_of(on, others[i], &route));
        CHECK(route == TESSERA_DBSC_ROUTE_NONE);
    }
    /* Off: no route is DBSC's. */
    CHECK_OK(tessera_dbsc_route_of(off, "/_tessera/dbsc/register", &route));
    CHECK(route == TESSERA_DBSC_ROUTE_NONE);
    /* Another prefix. */
    tessera_manager *prefixed = NULL;
    CHECK_OK(tessera_manager_new("{\"sweep_interval_ms\": null, \"dbsc\": true, "
                                 "\"dbsc_path_prefix\": \"/auth/device\"}",
                                 NULL, &prefixed));
    CHECK_OK(tessera_dbsc_route_of(prefixed, "/auth/device/refresh", &route));
    CHECK(route == TESSERA_DBSC_ROUTE_REFRESH);
    CHECK_OK(tessera_dbsc_route_of(prefixed, "/_tessera/dbsc/refresh", &route));
    CHECK(route == TESSERA_DBSC_ROUTE_NONE);
    /* NULL pointers: refused, nothing written. */
    route = (tessera_dbsc_route)7;
    CHECK_STATUS(tessera_dbsc_route_of(NULL, "/", &route), TESSERA_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(tessera_dbsc_route_of(on, NULL, &route), TESSERA_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(tessera_dbsc_route_of(on, "/", NULL), TESSERA_STATUS_INVALID_ARGUMENT);
    CHECK(route == (tessera_dbsc_route)7);
    /* Options that make no sense are the core's to refuse. */
    tessera_manager *bad = NULL;
    CHECK_STATUS(tessera_manager_new("{\"dbsc\": true, \"dbsc_algorithms\": [\"none\"]}", NULL,
                                     &bad),
                 TESSERA_STATUS_INVALID_CONFIG);
    CHECK_STATUS(tessera_manager_new("{\"dbsc\": true, \"cookie_secure\": false, "
                                     "\"cookie_name\": \"s\"}",
                                     NULL, &bad),
                 TESSERA_STATUS_INVALID_CONFIG);
    CHECK(bad == NULL);
    tessera_manager_free(prefixed);
    tessera_manager_free(off);
    tessera_manager_free(on);
}

static void test_endpoints_without_a_key(void) {
    tessera_clock *clock = NULL;
    tessera_manager *m = NULL, *off = NULL;
    CHECK_OK(tessera_clock_new(START, &clock));
    CHECK_OK(tessera_manager_new(DBSC_OPTIONS, clock, &m));
    CHECK_OK(tessera_manager_new("{\"sweep_interval_ms\": null}", clock, &off));
    tessera_endpoint_response *resp = NULL, *untouched = (tessera_endpoint_response *)0x1;
    char cookie[160] = "";
    sign_in(m, "alice", 1, NULL, cookie, sizeof cookie, NULL);

    /* NULL manager, head, method, out-parameter: refused, nothing written. */
    tessera_dbsc_head head = {0};
    head.https = true;
    head.method = "POST";
    head.origin = "https://app.example";
    CHECK_STATUS(tessera_dbsc_register(NULL, &head, &untouched), TESSERA_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(tessera_dbsc_register(m, NULL, &untouched), TESSERA_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(tessera_dbsc_refresh(m, NULL, &untouched), TESSERA_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(tessera_dbsc_register(m, &head, NULL), TESSERA_STATUS_INVALID_ARGUMENT);
    head.method = NULL;
    CHECK_STATUS(tessera_dbsc_refresh(m, &head, &untouched), TESSERA_STATUS_INVALID_ARGUMENT);
    CHECK(strstr(tessera_last_error(), "method") != NULL);
    head.method = "POST";
    CHECK(untouched == (tessera_endpoint_response *)0x1);
    /* Device-bound sessions off: a configuration error, not an answer. */
    CHECK_STATUS(tessera_dbsc_register(off, &head, &untouched), TESSERA_STATUS_INVALID_CONFIG);
    CHECK(untouched == (tessera_endpoint_response *)0x1);
    /* No origin, and no dbsc_origin option: refused before anything is read or written (the
     * core would find out only after binding the session). With the option, NULL is fine. */
    head.origin = NULL;
    CHECK_STATUS(tessera_dbsc_register(m, &head, &untouched), TESSERA_STATUS_INVALID_CONFIG);
    CHECK_STATUS(tessera_dbsc_refresh(m, &head, &untouched), TESSERA_STATUS_INVALID_CONFIG);
    CHECK(untouched == (tessera_endpoint_response *)0x1);
    tessera_manager *pinned = NULL;
    CHECK_OK(tessera_manager_new("{\"sweep_interval_ms\": null, \"dbsc\": true, "
                                 "\"dbsc_origin\": \"https://app.example\"}",
                                 clock, &pinned));
    CHECK_OK(tessera_dbsc_refresh(pinned, &head, &resp));
    CHECK(endpoint_status(resp) == 400); /* no Sec-Secure-Session-Id */
    tessera_endpoint_response_free(resp);
    tessera_manager_free(pinned);
    head.origin = "https://app.example";

    /* R14: over plain HTTP, 400. */
    head.https = false;
    head.cookie_header = cookie;
    head.proof = "a.b.c";
    CHECK_OK(tessera_dbsc_register(m, &head, &resp));
    CHECK(endpoint_status(resp) == 400);
    tessera_endpoint_response_free(resp);
    head.https = true;
    /* Not POST: 405. */
    head.method = "GET";
    CHECK_OK(tessera_dbsc_register(m, &head, &resp));
    CHECK(endpoint_status(resp) == 405);
    tessera_endpoint_response_free(resp);
    head.method = "POST";
    /* R1: no proof, 400. */
    head.proof = NULL;
    CHECK_OK(tessera_dbsc_register(m, &head, &resp));
    CHECK(endpoint_status(resp) == 400);
    tessera_endpoint_response_free(resp);
    /* A malformed proof for the session's offer: 403 with the detail as JSON, the offer spent. */
    head.proof = "not-a-jws";
    CHECK_OK(tessera_dbsc_register(m, &head, &resp));
    CHECK(endpoint_status(resp) == 403);
    CHECK(strstr(endpoint_body(resp), "\"error\"") != NULL);
    CHECK_STR(endpoint_header(resp, "Cache-Control"), "no-store");
    tessera_endpoint_response_free(resp);
    /* No session at all: 403 no_session. */
    head.cookie_header = NULL;
    CHECK_OK(tessera_dbsc_register(m, &head, &resp));
    CHECK(endpoint_status(resp) == 403);
    CHECK(strstr(endpoint_body(resp), "no_session") != NULL);
    tessera_endpoint_response_free(resp);

    /* F1: a refresh without Sec-Secure-Session-Id: 400 and no challenge. */
    head.cookie_header = cookie;
    head.proof = NULL;
    CHECK_OK(tessera_dbsc_refresh(m, &head, &resp));
    CHECK(endpoint_status(resp) == 400);
    CHECK(endpoint_header(resp, "Secure-Session-Challenge") == NULL);
    tessera_endpoint_response_free(resp);
    /* F2: an id that is not the session's binding (it has none): continue false. */
    head.session_id = "wrongid";
    CHECK_OK(tessera_dbsc_refresh(m, &head, &resp));
    CHECK(endpoint_status(resp) == 200);
    CHECK(strstr(endpoint_body(resp), "\"continue\":false") != NULL);
    CHECK(strstr(endpoint_body(resp), "\"wrongid\"") != NULL);
    /* The accessors: an index out of range and NULL out-parameters are refused. */
    const char *n = (const char *)0x1, *v = (const char *)0x1;
    size_t count = 0, len = 77;
    int status = 77;
    CHECK_OK(tessera_endpoint_response_header_count(resp, &count));
    CHECK_STATUS(tessera_endpoint_response_header(resp, count, &n, &v),
                 TESSERA_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(tessera_endpoint_response_header(resp, 0, NULL, &v),
                 TESSERA_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(tessera_endpoint_response_header(resp, 0, &n, NULL),
                 TESSERA_STATUS_INVALID_ARGUMENT);
    CHECK(n == (const char *)0x1 && v == (const char *)0x1);
    CHECK_STATUS(tessera_endpoint_response_status(NULL, &status), TESSERA_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(tessera_endpoint_response_status(resp, NULL), TESSERA_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(tessera_endpoint_response_header_count(NULL, &count),
                 TESSERA_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(tessera_endpoint_response_body(resp, NULL, &len), TESSERA_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(tessera_endpoint_response_body(resp, &n, NULL), TESSERA_STATUS_INVALID_ARGUMENT);
    CHECK(status == 77 && len == 77);
    tessera_endpoint_response_free(resp);
    /* Freed: no longer live; a second free and NULL are harmless. */
    CHECK_STATUS(tessera_endpoint_response_status(resp, &status), TESSERA_STATUS_INVALID_ARGUMENT);
    tessera_endpoint_response_free(resp);
    tessera_endpoint_response_free(NULL);
    /* A response handle of another kind is not an endpoint response. */
    tessera_request *r = NULL;
    tessera_response *plain = NULL;
    CHECK_OK(tessera_request_begin(m, NULL, true, "GET", NULL, NULL, &r));
    CHECK_OK(tessera_request_finish(r, m, NULL, TESSERA_AUTH_UNCHANGED, NULL, false,
                                    TESSERA_EXPIRY_NONE, 0, false, false, &plain));
    CHECK_STATUS(tessera_endpoint_response_status((const tessera_endpoint_response *)plain,
                                                  &status),
                 TESSERA_STATUS_INVALID_ARGUMENT);
    tessera_response_free(plain);

    /* A refresh for a dead session: continue false, and the dead cookie cleared. */
    head.cookie_header = "__Host-session=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
    head.session_id = "\"someid\"";
    CHECK_OK(tessera_dbsc_refresh(m, &head, &resp));
    CHECK(endpoint_status(resp) == 200);
    CHECK(strstr(endpoint_body(resp), "\"continue\":false") != NULL);
    tessera_endpoint_response_free(resp);

    tessera_manager_free(off);
    tessera_manager_free(m);
    tessera_clock_free(clock);
}

static void test_step_up(void) {
    tessera_clock *clock = NULL;
    tessera_manager *m = NULL;
    struct events log = {0};
    CHECK_OK(tessera_clock_new(START, &clock));
    CHECK_OK(tessera_manager_new(DBSC_OPTIONS, clock, &m));
    CHECK_OK(tessera_manager_add_listener(m, on_event, &log));
    char cookie[160] = "", token[64] = "";
    int offered = 0;
    sign_in(m, "alice", 2, "[\"pwd\",\"otp\"]", cookie, sizeof cookie, &offered);
    CHECK(offered); /* a sign-in over HTTPS with dbsc on offers a binding */
    snprintf(token, sizeof token, "%s", strchr(cookie, '=') + 1);

    tessera_request *r = NULL;
    tessera_freshness f = (tessera_freshness)9;
    tessera_binding b = (tessera_binding)9;
    uint64_t at = 0;
    int level = -1;
    char *amr = NULL;
    CHECK_OK(tessera_request_begin(m, cookie, true, "GET", "ua", NULL, &r));
    CHECK_OK(tessera_request_authenticated(r, &at, &level, &amr));
    CHECK(at == START && level == 2);
    CHECK_STR(amr, "[\"pwd\",\"otp\"]");
    tessera_string_free(amr);
    amr = NULL;
    CHECK_OK(tessera_request_authenticated(r, &at, &level, NULL)); /* amr not wanted */
    CHECK_OK(tessera_request_binding(r, &b));
    CHECK(b == TESSERA_BINDING_UNBOUND);
    CHECK_OK(tessera_request_require_recent(r, m, 60000, 2, &f));
    CHECK(f == TESSERA_FRESHNESS_ALLOWED);
    CHECK_OK(tessera_request_require_recent(r, m, 60000, 3, &f));
    CHECK(f == TESSERA_FRESHNESS_LEVEL);
    /* Bad arguments: refused, nothing written. */
    f = (tessera_freshness)9;
    CHECK_STATUS(tessera_request_require_recent(r, m, 60000, 256, &f),
                 TESSERA_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(tessera_request_require_recent(r, m, 60000, -1, &f),
                 TESSERA_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(tessera_request_require_recent(NULL, m, 60000, 1, &f),
                 TESSERA_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(tessera_request_require_recent(r, NULL, 60000, 1, &f),
                 TESSERA_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(tessera_request_require_recent(r, m, 60000, 1, NULL),
                 TESSERA_STATUS_INVALID_ARGUMENT);
    CHECK(f == (tessera_freshness)9);
    CHECK_STATUS(tessera_request_binding(r, NULL), TESSERA_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(tessera_request_binding(NULL, &b), TESSERA_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(tessera_request_authenticated(r, NULL, &level, NULL),
                 TESSERA_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(tessera_request_authenticated(r, &at, NULL, NULL),
                 TESSERA_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(tessera_request_reauthenticate(r, m, 0, NULL, NULL),
                 TESSERA_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(tessera_request_reauthenticate(r, m, 300, NULL, NULL),
                 TESSERA_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(tessera_request_reauthenticate(r, m, 1, "{\"pwd\":1}", NULL),
                 TESSERA_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(tessera_request_reauthenticate(r, m, 1, "[\"no spaces\"]", NULL),
                 TESSERA_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(tessera_request_reauthenticate(r, m, 1, "[", NULL),
                 TESSERA_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(tessera_request_reauthenticate(NULL, m, 1, NULL, NULL),
                 TESSERA_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(tessera_request_offer_binding(NULL, m, NULL), TESSERA_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(tessera_request_offer_binding(r, NULL, NULL), TESSERA_STATUS_INVALID_ARGUMENT);
    finish_quietly(r, m);

    /* Past max_age: stale, for the request and for the token alike. */
    CHECK_OK(tessera_clock_advance(clock, 61000));
    CHECK_OK(tessera_manager_require_recent(m, token, NULL, true, 60000, 1, &f));
    CHECK(f == TESSERA_FRESHNESS_STALE);
    CHECK_OK(tessera_manager_require_recent(m, token, NULL, true, 120000, 1, &f));
    CHECK(f == TESSERA_FRESHNESS_ALLOWED);
    CHECK_OK(tessera_manager_require_recent(m, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", NULL,
                                            true, 60000, 1, &f));
    CHECK(f == TESSERA_FRESHNESS_ANONYMOUS);
    CHECK_OK(tessera_manager_require_recent(m, "garbage", "bound", true, 60000, 1, &f));
    CHECK(f == TESSERA_FRESHNESS_ANONYMOUS);
    f = (tessera_freshness)9;
    CHECK_STATUS(tessera_manager_require_recent(m, NULL, NULL, true, 60000, 1, &f),
                 TESSERA_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(tessera_manager_require_recent(m, token, NULL, true, 60000, 999, &f),
                 TESSERA_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(tessera_manager_require_recent(NULL, token, NULL, true, 60000, 1, &f),
                 TESSERA_STATUS_INVALID_ARGUMENT);
    CHECK(f == (tessera_freshness)9);

    /* Re-authenticate: a new token (the old one dead at once), allowed again, level 1 now. */
    tessera_response *resp = NULL;
    bool done = false;
    CHECK_OK(tessera_request_begin(m, cookie, true, "POST", "ua", NULL, &r));
    CHECK_OK(tessera_request_require_recent(r, m, 60000, 1, &f));
    CHECK(f == TESSERA_FRESHNESS_STALE);
    CHECK_OK(tessera_request_reauthenticate(r, m, 1, "[\"pwd\"]", &done));
    CHECK(done);
    CHECK_OK(tessera_request_require_recent(r, m, 60000, 1, &f));
    CHECK(f == TESSERA_FRESHNESS_ALLOWED);
    CHECK_OK(tessera_request_require_recent(r, m, 60000, 2, &f));
    CHECK(f == TESSERA_FRESHNESS_LEVEL); /* the latest strength, not the strongest */
    const char *user = NULL;
    CHECK_OK(tessera_request_user(r, &user));
    CHECK_STR(user, "alice");
    CHECK_OK(tessera_request_finish(r, m, NULL, TESSERA_AUTH_UNCHANGED, NULL, false,
                                    TESSERA_EXPIRY_NONE, 0, false, false, &resp));
    const char *set = NULL;
    CHECK_OK(tessera_response_set_cookie(resp, &set));
    CHECK(set != NULL && strstr(set, token) == NULL);
    tessera_response_free(resp);
    CHECK_OK(tessera_manager_require_recent(m, token, NULL, true, 60000, 1, &f));
    CHECK(f == TESSERA_FRESHNESS_ANONYMOUS); /* no grace for the old token */
    int i = find_event(&log, "reauthenticated");
    CHECK(i >= 0);

    /* An anonymous request: anonymous, and re-authentication is refused (sign in instead). */
    CHECK_OK(tessera_request_begin(m, NULL, true, "POST", "ua", NULL, &r));
    CHECK_OK(tessera_request_require_recent(r, m, 60000, 0, &f));
    CHECK(f == TESSERA_FRESHNESS_ANONYMOUS);
    CHECK_OK(tessera_request_authenticated(r, &at, &level, &amr));
    CHECK(at == 0 && level == 0);
    CHECK_STR(amr, "[]");
    tessera_string_free(amr);
    done = true;
    CHECK_OK(tessera_request_reauthenticate(r, m, 1, NULL, &done));
    CHECK(!done); /* no session: nothing made */
    bool offered_now = true;
    CHECK_OK(tessera_request_offer_binding(r, m, &offered_now));
    CHECK(!offered_now);
    CHECK_STATUS(tessera_request_login_with(r, m, "bob", 0, NULL), TESSERA_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(tessera_request_login_with(r, m, "bob", 1, "[1,2]"),
                 TESSERA_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(tessera_request_login_with(r, m, NULL, 1, NULL), TESSERA_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(tessera_request_login_with(r, NULL, "bob", 1, NULL),
                 TESSERA_STATUS_INVALID_ARGUMENT);
    CHECK_OK(tessera_request_login_with(r, m, "bob", 1, NULL));
    CHECK_OK(tessera_request_authenticated(r, &at, &level, NULL));
    CHECK(level == 1 && at == START + 61000);
    finish_quietly(r, m);

    /* The same outside the request protocol: login_with, reauthenticate, a session's record. */
    tessera_session *s = NULL, *untouched = (tessera_session *)0x1;
    tessera_reason reason = TESSERA_REASON_NONE;
    char carol[64] = "";
    CHECK_OK(tessera_manager_login_with(m, NULL, "carol", 2, "[\"pwd\",\"hwk\"]", true, "ua",
                                        &s));
    CHECK_OK(tessera_session_authenticated(s, &at, &level, &amr));
    CHECK(level == 2 && at == START + 61000);
    CHECK_STR(amr, "[\"pwd\",\"hwk\"]");
    tessera_string_free(amr);
    amr = NULL;
    CHECK_OK(tessera_session_new_token(s, carol, sizeof carol));
    tessera_session_free(s);
    CHECK_STATUS(tessera_manager_login_with(m, NULL, "carol", 0, NULL, true, NULL, &untouched),
                 TESSERA_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(tessera_manager_login_with(m, NULL, "carol", 1, "nope", true, NULL, &untouched),
                 TESSERA_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(tessera_manager_login_with(m, NULL, NULL, 1, NULL, true, NULL, &untouched),
                 TESSERA_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(tessera_manager_login_with(m, NULL, "carol", 1, NULL, true, NULL, NULL),
                 TESSERA_STATUS_INVALID_ARGUMENT);
    CHECK(untouched == (tessera_session *)0x1);
    CHECK_OK(tessera_clock_advance(clock, 1000));
    CHECK_OK(tessera_manager_reauthenticate(m, carol, 1, NULL, true, "ua", &s, &reason));
    CHECK_OK(tessera_session_authenticated(s, &at, &level, NULL));
    CHECK(level == 1 && at == START + 62000);
    tessera_session_free(s);
    /* The old token is dead at once: a rejection with its reason, nothing written. */
    CHECK_STATUS(tessera_manager_reauthenticate(m, carol, 1, NULL, true, NULL, &untouched,
                                                &reason),
                 TESSERA_STATUS_REJECTED);
    CHECK(reason == TESSERA_REASON_UNKNOWN && untouched == (tessera_session *)0x1);
    CHECK_STATUS(tessera_manager_reauthenticate(m, NULL, 1, NULL, true, NULL, &untouched, NULL),
                 TESSERA_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(tessera_manager_reauthenticate(m, carol, 1, NULL, true, NULL, NULL, NULL),
                 TESSERA_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(tessera_manager_reauthenticate(m, carol, -3, NULL, true, NULL, &untouched, NULL),
                 TESSERA_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(tessera_session_authenticated(NULL, &at, &level, NULL),
                 TESSERA_STATUS_INVALID_ARGUMENT);
    CHECK(untouched == (tessera_session *)0x1);

    /* Listing: the step-up record and the binding state of each session. */
    char *json = NULL;
    CHECK_OK(tessera_manager_list_user(m, "alice", &json));
    CHECK(json != NULL && strstr(json, "\"bound\":false") != NULL &&
          strstr(json, "\"key_thumbprint\":null") != NULL &&
          strstr(json, "\"authenticated\":{") != NULL && strstr(json, "\"level\":1") != NULL);
    tessera_string_free(json);

    /* Unbind: an id that is not one is refused; an unbound session has nothing to end. */
    bool unbound = true;
    CHECK_STATUS(tessera_manager_unbind(m, "xyz", &unbound), TESSERA_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(tessera_manager_unbind(m, NULL, &unbound), TESSERA_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(tessera_manager_unbind(NULL, "00", &unbound), TESSERA_STATUS_INVALID_ARGUMENT);
    CHECK(unbound);
    char missing[65];
    memset(missing, 'a', 64);
    missing[64] = '\0';
    CHECK_OK(tessera_manager_unbind(m, missing, &unbound));
    CHECK(!unbound);
    CHECK_OK(tessera_manager_unbind(m, missing, NULL));

    /* Events carry a detail only as a stable code. */
    for (int e = 0; e < log.count; e++)
        CHECK(strlen(log.detail[e]) == strspn(log.detail[e],
                                              "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                              "0123456789_"));
    tessera_manager_free(m);
    tessera_clock_free(clock);
}

int main(void) {
    test_enums();
    test_routes();
    test_endpoints_without_a_key();
    test_step_up();
    return check_summary();
}
