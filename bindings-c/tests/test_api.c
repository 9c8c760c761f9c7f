/*
 * test_api.c: the whole lifecycle through the C ABI on a manual clock: create, validate (HTTP and
 * HTTPS), rotation and its grace, login, logout, revocation, listing, data, CSRF, sweeping,
 * cookies, events, configuration errors, the last-error message, and whether the store is shared
 * and the manager used after a fork().
 */
#define _POSIX_C_SOURCE 200809L /* mkdtemp */

#include <stdint.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"

#define START 1700000000000ULL

/* ---- events --------------------------------------------------------------------------- */

#define MAX_EVENTS 256

struct event_log {
    int count;
    char kind[MAX_EVENTS][16];
    char user[MAX_EVENTS][32];
    char reason[MAX_EVENTS][24];
    char id[MAX_EVENTS][TESSERA_ID_BUFFER_LEN];
    char previous[MAX_EVENTS][TESSERA_ID_BUFFER_LEN];
    uint64_t at[MAX_EVENTS];
    /* Every string an event carried, concatenated, to prove no token is ever among them. */
    char seen[MAX_EVENTS * 200];
};

static void copy(char *dst, size_t len, const char *src) {
    snprintf(dst, len, "%s", src ? src : "");
}

static void on_event(void *user_data, const tessera_event *event) {
    struct event_log *log = user_data;
    if (log->count >= MAX_EVENTS) return;
    int i = log->count++;
    copy(log->kind[i], sizeof log->kind[i], tessera_event_kind(event));
    copy(log->user[i], sizeof log->user[i], tessera_event_user(event));
    copy(log->reason[i], sizeof log->reason[i], tessera_event_reason(event));
    copy(log->id[i], sizeof log->id[i], tessera_event_id(event));
    copy(log->previous[i], sizeof log->previous[i], tessera_event_previous_id(event));
    log->at[i] = tessera_event_at(event);
    const char *parts[] = {tessera_event_kind(event), tessera_event_user(event),
                           tessera_event_reason(event), tessera_event_id(event),
                           tessera_event_previous_id(event)};
    for (size_t p = 0; p < sizeof parts / sizeof parts[0]; p++) {
        if (parts[p] != NULL) {
            strncat(log->seen, parts[p], sizeof log->seen - strlen(log->seen) - 2);
            strcat(log->seen, "|");
        }
    }
}

/* Index of the first event of `kind` at or after `from`, or -1. */
static int find_event(const struct event_log *log, int from, const char *kind) {
    for (int i = from; i < log->count; i++)
        if (strcmp(log->kind[i], kind) == 0) return i;
    return -1;
}

/* ---- helpers -------------------------------------------------------------------------- */

/* The new token a session carries, copied into `out`. */
static void new_token(const tessera_session *s, char out[TESSERA_TOKEN_BUFFER_LEN]) {
    bool issued = false;
    CHECK_OK(tessera_session_has_new_token(s, &issued));
    CHECK(issued);
    CHECK_OK(tessera_session_new_token(s, out, TESSERA_TOKEN_BUFFER_LEN));
    CHECK(strlen(out) == 43);
}

static void session_id(const tessera_session *s, char out[TESSERA_ID_BUFFER_LEN]) {
    CHECK_OK(tessera_session_id(s, out, TESSERA_ID_BUFFER_LEN));
    CHECK(strlen(out) == 64);
    CHECK(strspn(out, "0123456789abcdef") == 64);
}

static void check_data(const tessera_session *s, const char *want) {
    char *json = NULL;
    CHECK_OK(tessera_session_data(s, &json));
    CHECK_STR(json, want);
    tessera_string_free(json);
}

/* Validate `token`; returns the session (or NULL) and stores the status and reason. */
static tessera_session *validate(tessera_manager *m, const char *token, bool https,
                                 tessera_status *status, tessera_reason *reason) {
    tessera_session *s = NULL;
    *reason = TESSERA_REASON_NONE;
    *status = tessera_manager_validate(m, token, https, "test-agent/1.0", &s, reason);
    return s;
}

static void expect_rejected(tessera_manager *m, const char *token, tessera_reason want) {
    tessera_status status;
    tessera_reason reason;
    tessera_session *s = validate(m, token, false, &status, &reason);
    CHECK(status == TESSERA_STATUS_REJECTED);
    CHECK(s == NULL);
    CHECK_STR(tessera_reason_str((int)reason), tessera_reason_str((int)want));
    /* The message names the reason and never repeats the token. */
    CHECK(strstr(tessera_last_error(), tessera_reason_str((int)want)) != NULL);
    if (token[0] != '\0') CHECK(strstr(tessera_last_error(), token) == NULL);
}

static uint64_t now(tessera_clock *clock) {
    uint64_t t = 0;
    CHECK_OK(tessera_clock_now(clock, &t));
    return t;
}

/* ---- the tests ------------------------------------------------------------------------ */

static void test_strings_and_version(void) {
    CHECK_STR(tessera_version(), TESSERA_VERSION);
    CHECK(TESSERA_VERSION_MAJOR == 0 && TESSERA_VERSION_MINOR >= 1);
    CHECK_STR(tessera_status_str(TESSERA_STATUS_OK), "ok");
    CHECK_STR(tessera_status_str(TESSERA_STATUS_REJECTED), "rejected");
    CHECK_STR(tessera_status_str(TESSERA_STATUS_INVALID_CONFIG), "invalid_config");
    CHECK_STR(tessera_status_str(TESSERA_STATUS_INVALID_ARGUMENT), "invalid_argument");
    CHECK_STR(tessera_status_str(TESSERA_STATUS_DATA_TOO_LARGE), "data_too_large");
    CHECK_STR(tessera_status_str(TESSERA_STATUS_STORE_UNAVAILABLE), "store_unavailable");
    CHECK_STR(tessera_status_str(TESSERA_STATUS_INTERNAL), "internal");
    CHECK_STR(tessera_status_str(TESSERA_STATUS_STORE_FULL), "store_full");
    CHECK_STR(tessera_reason_str(TESSERA_REASON_MALFORMED), "malformed");
    CHECK_STR(tessera_reason_str(TESSERA_REASON_UNKNOWN), "unknown");
    CHECK_STR(tessera_reason_str(TESSERA_REASON_EXPIRED_IDLE), "expired_idle");
    CHECK_STR(tessera_reason_str(TESSERA_REASON_EXPIRED_ABSOLUTE), "expired_absolute");
    CHECK(tessera_reason_str(TESSERA_REASON_NONE) == NULL);
    /* The numbers are part of the ABI. */
    CHECK(TESSERA_STATUS_OK == 0 && TESSERA_STATUS_REJECTED == 1 &&
          TESSERA_STATUS_INVALID_CONFIG == 2 && TESSERA_STATUS_INVALID_ARGUMENT == 3 &&
          TESSERA_STATUS_DATA_TOO_LARGE == 4 && TESSERA_STATUS_STORE_UNAVAILABLE == 5 &&
          TESSERA_STATUS_INTERNAL == 6 && TESSERA_STATUS_STORE_FULL == 7);
    CHECK(TESSERA_TOKEN_BUFFER_LEN == 44 && TESSERA_ID_BUFFER_LEN == 65);
    CHECK_STR(TESSERA_CACHE_CONTROL_NAME ": " TESSERA_CACHE_CONTROL_VALUE, "Cache-Control: no-store");
}

static void test_clock(void) {
    tessera_clock *clock = NULL;
    CHECK_OK(tessera_clock_new(5, &clock));
    CHECK(now(clock) == 5);
    CHECK_OK(tessera_clock_advance(clock, 10));
    CHECK(now(clock) == 15);
    CHECK_OK(tessera_clock_advance(clock, UINT64_MAX));
    CHECK(now(clock) == UINT64_MAX);
    CHECK_OK(tessera_clock_set(clock, 7));
    CHECK(now(clock) == 7);
    tessera_clock_free(clock);
}

static void test_defaults(void) {
    tessera_manager *m = NULL;
    CHECK_OK(tessera_manager_new(NULL, NULL, &m));
    tessera_session *s = NULL;
    CHECK_OK(tessera_manager_create(m, NULL, NULL, true, NULL, &s));
    char *cookie = NULL;
    CHECK_OK(tessera_manager_set_cookie_for_session(m, s, &cookie));
    CHECK(cookie != NULL && strncmp(cookie, "__Host-session=", 15) == 0);
    CHECK(cookie != NULL && strstr(cookie, "; Path=/; Secure; HttpOnly; SameSite=Lax") != NULL);
    CHECK(cookie != NULL && strstr(cookie, "Max-Age") == NULL);
    tessera_string_free(cookie);
    char *clear = NULL;
    CHECK_OK(tessera_manager_clear_cookie(m, &clear));
    CHECK_STR(clear, "__Host-session=; Max-Age=0; Path=/; Secure; HttpOnly; SameSite=Lax");
    tessera_string_free(clear);
    uint64_t created = 0, expires = 0, deadline = 0;
    CHECK_OK(tessera_session_created_at(s, &created));
    CHECK_OK(tessera_session_expires_at(s, &expires));
    CHECK_OK(tessera_session_absolute_deadline(s, &deadline));
    CHECK(expires - created == 30ULL * 60 * 1000);  /* idle 30 min */
    CHECK(deadline - created == 12ULL * 3600 * 1000); /* absolute 12 h */
    bool secure = false;
    CHECK_OK(tessera_session_secure(s, &secure));
    CHECK(secure);
    tessera_session_free(s);
    tessera_manager_free(m);
}

/* At max_sessions, a new anonymous session evicts the least recently seen anonymous one; a store
 * full of signed-in sessions refuses it with TESSERA_STATUS_STORE_FULL and still signs users in. */
static void test_session_cap(void) {
    tessera_manager *m = NULL;
    CHECK_OK(tessera_manager_new("{\"max_sessions\": 1, \"sweep_interval_ms\": null}", NULL, &m));
    tessera_session *s = NULL;
    CHECK_OK(tessera_manager_create(m, NULL, NULL, true, NULL, &s));
    tessera_session_free(s);
    s = NULL;
    CHECK_OK(tessera_manager_create(m, "alice", NULL, true, NULL, &s)); /* evicts the visitor */
    tessera_session_free(s);
    s = NULL;
    CHECK_STATUS(tessera_manager_create(m, NULL, NULL, true, NULL, &s), TESSERA_STATUS_STORE_FULL);
    CHECK(s == NULL);
    CHECK_OK(tessera_manager_create(m, "bob", NULL, true, NULL, &s)); /* a sign-in never is */
    tessera_session_free(s);
    size_t live = 0;
    CHECK_OK(tessera_manager_store_len(m, &live));
    CHECK(live == 2);
    tessera_manager_free(m);
}

/* A memory store is not shared, a SQLite one is; a manager knows when it is used in a child of the
 * process that made it (what a pre-fork server needs to warn about memory://). */
static void test_store_sharing(void) {
    tessera_manager *m = NULL;
    CHECK_OK(tessera_manager_new("{\"sweep_interval_ms\": null}", NULL, &m));
    bool shared = true, forked = true;
    CHECK_OK(tessera_manager_store_is_shared(m, &shared));
    CHECK(!shared);
    CHECK_OK(tessera_manager_forked(m, &forked));
    CHECK(!forked);
    char *warnings = NULL;
    CHECK_OK(tessera_manager_store_warnings(m, &warnings));
    CHECK_STR(warnings, "[]");
    tessera_string_free(warnings);

    /* The child answers through a pipe: its exit status would be valgrind's, not its own. */
    int fds[2];
    CHECK(pipe(fds) == 0);
    pid_t child = fork();
    CHECK(child >= 0);
    if (child == 0) {
        bool in_child = false;
        char answer = tessera_manager_forked(m, &in_child) != TESSERA_STATUS_OK ? 'e'
                      : in_child                                             ? 'y'
                                                                             : 'n';
        ssize_t written = write(fds[1], &answer, 1);
        _exit(written == 1 ? 0 : 1);
    }
    close(fds[1]);
    char answer = '?';
    CHECK(read(fds[0], &answer, 1) == 1);
    close(fds[0]);
    CHECK(answer == 'y');
    int status = 0;
    CHECK(waitpid(child, &status, 0) == child);
    /* The parent is still the process that made it. */
    CHECK_OK(tessera_manager_forked(m, &forked));
    CHECK(!forked);
    tessera_manager_free(m);

    char dir[] = "/tmp/tessera-test-api-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char options[256];
    snprintf(options, sizeof options, "{\"store\": \"sqlite://%s/sessions.db\"}", dir);
    m = NULL;
    CHECK_OK(tessera_manager_new(options, NULL, &m));
    shared = false;
    CHECK_OK(tessera_manager_store_is_shared(m, &shared));
    CHECK(shared);
    tessera_session *s = NULL;
    CHECK_OK(tessera_manager_create(m, "alice", NULL, true, NULL, &s));
    tessera_session_free(s);
    tessera_manager_free(m);
    char path[300];
    const char *files[] = {"sessions.db", "sessions.db-wal", "sessions.db-shm"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, files[i]);
        unlink(path);
    }
    CHECK(rmdir(dir) == 0);
}

static void test_config_errors(void) {
    tessera_manager *m = (tessera_manager *)&m; /* must stay untouched on failure */
    tessera_manager *const sentinel = m;
    CHECK_STATUS(tessera_manager_new("{\"idle_timeout_ms\": 0}", NULL, &m),
                 TESSERA_STATUS_INVALID_CONFIG);
    CHECK(strstr(tessera_last_error(), "invalid_config: ") == tessera_last_error());
    CHECK(strstr(tessera_last_error(), "idle_timeout") != NULL);
    CHECK_STATUS(tessera_manager_new("{\"idle_timout_ms\": 5}", NULL, &m),
                 TESSERA_STATUS_INVALID_CONFIG);
    CHECK(strstr(tessera_last_error(), "idle_timout_ms") != NULL);
    CHECK_STATUS(tessera_manager_new("{\"cookie_secure\": false}", NULL, &m),
                 TESSERA_STATUS_INVALID_CONFIG); /* __Host- requires Secure */
    CHECK_STATUS(tessera_manager_new("{\"idle_timeout_ms\": \"30m\"}", NULL, &m),
                 TESSERA_STATUS_INVALID_CONFIG);
    CHECK_STATUS(tessera_manager_new("{\"store\": \"redis-nope://x\"}", NULL, &m),
                 TESSERA_STATUS_INVALID_CONFIG);
    CHECK_STATUS(tessera_manager_new("{\"sweep_interval_ms\": 0}", NULL, &m),
                 TESSERA_STATUS_INVALID_CONFIG);
    CHECK_STATUS(tessera_manager_new("[1, 2]", NULL, &m), TESSERA_STATUS_INVALID_CONFIG);
    CHECK_STATUS(tessera_manager_new("{", NULL, &m), TESSERA_STATUS_INVALID_CONFIG);
    CHECK(m == sentinel);
    CHECK_OK(tessera_manager_new("{\"store\": \"memory://?shards=4\", \"sweep_interval_ms\": null,"
                                 " \"cookie_name\": \"sid\", \"cookie_secure\": false,"
                                 " \"cookie_max_age_ms\": 3600000, \"cookie_domain\": \"example.com\","
                                 " \"cookie_same_site\": \"strict\", \"cookie_path\": \"/app\"}",
                                 NULL, &m));
    char *clear = NULL;
    CHECK_OK(tessera_manager_clear_cookie(m, &clear));
    CHECK_STR(clear, "sid=; Max-Age=0; Domain=example.com; Path=/app; HttpOnly; SameSite=Strict");
    tessera_string_free(clear);
    tessera_manager_free(m);
}

static const char *OPTIONS =
    "{\"idle_timeout_ms\": 60000, \"absolute_timeout_ms\": 600000, \"rotation_interval_ms\": 30000,"
    " \"rotation_grace_ms\": 5000, \"sweep_interval_ms\": null, \"cookie_name\": \"sid\","
    " \"cookie_secure\": false, \"max_data_bytes\": 4096, \"max_sessions_per_user\": 3}";

/* The manager keeps its own reference to the clock: freeing the handle first is fine. */
static void test_clock_handle_may_go_first(void) {
    tessera_clock *clock = NULL;
    tessera_manager *m = NULL;
    CHECK_OK(tessera_clock_new(START, &clock));
    CHECK_OK(tessera_manager_new("{\"sweep_interval_ms\": null}", clock, &m));
    tessera_clock_free(clock);
    tessera_session *s = NULL;
    CHECK_OK(tessera_manager_create(m, NULL, NULL, true, NULL, &s));
    uint64_t created = 0;
    CHECK_OK(tessera_session_created_at(s, &created));
    CHECK(created == START);
    tessera_session_free(s);
    tessera_manager_free(m);
}

static void test_lifecycle(void) {
    tessera_clock *clock = NULL;
    tessera_manager *m = NULL;
    CHECK_OK(tessera_clock_new(START, &clock));
    CHECK_OK(tessera_manager_new(OPTIONS, clock, &m));

    struct event_log *log = calloc(1, sizeof *log);
    CHECK_OK(tessera_manager_add_listener(m, on_event, log));

    /* create: anonymous, with data, over HTTP */
    tessera_session *s = NULL;
    CHECK_OK(tessera_manager_create(m, NULL, "{\"cart\": [1, 2]}", false, "agent/1", &s));
    char tok[TESSERA_TOKEN_BUFFER_LEN], id[TESSERA_ID_BUFFER_LEN];
    new_token(s, tok);
    session_id(s, id);
    const char *user = "sentinel";
    CHECK_OK(tessera_session_user(s, &user));
    CHECK(user == NULL);
    uint64_t at = 0;
    CHECK_OK(tessera_session_expires_at(s, &at));
    CHECK(at == START + 60000);
    CHECK_OK(tessera_session_absolute_deadline(s, &at));
    CHECK(at == START + 600000);
    CHECK_OK(tessera_session_last_seen(s, &at));
    CHECK(at == START);
    bool secure = true;
    CHECK_OK(tessera_session_secure(s, &secure));
    CHECK(!secure);
    check_data(s, "{\"cart\":[1,2]}");
    char *value = NULL;
    CHECK_OK(tessera_session_get(s, "cart", &value));
    CHECK_STR(value, "[1,2]");
    tessera_string_free(value);
    value = (char *)"sentinel";
    CHECK_OK(tessera_session_get(s, "missing", &value));
    CHECK(value == NULL);
    char id_of[TESSERA_ID_BUFFER_LEN];
    CHECK_OK(tessera_manager_id_of(m, tok, id_of, sizeof id_of, NULL));
    CHECK_STR(id_of, id);

    /* cookies */
    char *cookie = NULL;
    CHECK_OK(tessera_manager_set_cookie_for_session(m, s, &cookie));
    char want[200];
    snprintf(want, sizeof want, "sid=%s; Path=/; HttpOnly; SameSite=Lax", tok);
    CHECK_STR(cookie, want);
    tessera_string_free(cookie);
    CHECK_OK(tessera_manager_set_cookie(m, tok, &cookie));
    CHECK_STR(cookie, want);
    tessera_string_free(cookie);
    tessera_session_free(s);

    char header[200], found_tok[TESSERA_TOKEN_BUFFER_LEN];
    tessera_cookie found = TESSERA_COOKIE_ABSENT;
    snprintf(header, sizeof header, "theme=dark; sid=%s; lang=en", tok);
    CHECK_OK(tessera_manager_cookie_token(m, header, found_tok, sizeof found_tok, &found));
    CHECK(found == TESSERA_COOKIE_ONE);
    CHECK_STR(found_tok, tok);
    snprintf(header, sizeof header, "sid=\"%s\"", tok);
    CHECK_OK(tessera_manager_cookie_token(m, header, found_tok, sizeof found_tok, &found));
    CHECK(found == TESSERA_COOKIE_ONE);
    CHECK_STR(found_tok, tok);
    snprintf(header, sizeof header, "sid=%s; x=1; sid=planted", tok);
    CHECK_OK(tessera_manager_cookie_token(m, header, found_tok, sizeof found_tok, &found));
    CHECK(found == TESSERA_COOKIE_AMBIGUOUS);
    CHECK_STR(found_tok, "");
    CHECK_OK(tessera_manager_cookie_token(m, "theme=dark; SID=x; xsid=y", found_tok,
                                          sizeof found_tok, &found));
    CHECK(found == TESSERA_COOKIE_ABSENT);
    CHECK_STR(found_tok, "");
    char big_buf[200];
    CHECK_OK(tessera_manager_cookie_token(m, "sid=not-a-token", big_buf, sizeof big_buf, &found));
    CHECK(found == TESSERA_COOKIE_ONE);
    CHECK_STR(big_buf, "not-a-token");

    /* validate: the same session, no new token, idle window slides */
    tessera_status status;
    tessera_reason reason;
    CHECK_OK(tessera_clock_advance(clock, 10000));
    s = validate(m, tok, false, &status, &reason);
    CHECK(status == TESSERA_STATUS_OK && s != NULL);
    bool issued = true;
    CHECK_OK(tessera_session_has_new_token(s, &issued));
    CHECK(!issued);
    char none[TESSERA_TOKEN_BUFFER_LEN] = "untouched";
    CHECK_STATUS(tessera_session_new_token(s, none, sizeof none), TESSERA_STATUS_INVALID_ARGUMENT);
    CHECK_STR(none, "untouched");
    CHECK_STATUS(tessera_manager_set_cookie_for_session(m, s, &cookie),
                 TESSERA_STATUS_INVALID_ARGUMENT);
    char id2[TESSERA_ID_BUFFER_LEN];
    session_id(s, id2);
    CHECK_STR(id2, id);
    CHECK_OK(tessera_session_expires_at(s, &at));
    CHECK(at == START + 10000 + 60000);
    tessera_session_free(s);

    /* periodic rotation during validate, with a grace window for the old token */
    CHECK_OK(tessera_clock_advance(clock, 30000));
    s = validate(m, tok, false, &status, &reason);
    CHECK(status == TESSERA_STATUS_OK && s != NULL);
    char tok2[TESSERA_TOKEN_BUFFER_LEN];
    new_token(s, tok2);
    CHECK(strcmp(tok, tok2) != 0);
    tessera_session_free(s);
    s = validate(m, tok, false, &status, &reason); /* the alias, inside its grace */
    CHECK(status == TESSERA_STATUS_OK && s != NULL);
    CHECK_OK(tessera_session_has_new_token(s, &issued));
    CHECK(!issued); /* an alias never rotates */
    tessera_session_free(s);
    CHECK_OK(tessera_clock_advance(clock, 5000));
    expect_rejected(m, tok, TESSERA_REASON_UNKNOWN); /* grace over */

    /* HTTP → HTTPS: a new token at once, no grace */
    s = validate(m, tok2, true, &status, &reason);
    CHECK(status == TESSERA_STATUS_OK && s != NULL);
    char tok3[TESSERA_TOKEN_BUFFER_LEN];
    new_token(s, tok3);
    CHECK_OK(tessera_session_secure(s, &secure));
    CHECK(secure);
    session_id(s, id);
    tessera_session_free(s);
    expect_rejected(m, tok2, TESSERA_REASON_UNKNOWN);

    /* explicit rotate */
    s = NULL;
    CHECK_OK(tessera_manager_rotate(m, tok3, true, NULL, &s, &reason));
    char tok4[TESSERA_TOKEN_BUFFER_LEN];
    new_token(s, tok4);
    check_data(s, "{\"cart\":[1,2]}");
    session_id(s, id);
    tessera_session_free(s);
    s = NULL;
    reason = TESSERA_REASON_NONE;
    CHECK_STATUS(tessera_manager_rotate(m, "short", true, NULL, &s, &reason),
                 TESSERA_STATUS_REJECTED);
    CHECK(reason == TESSERA_REASON_MALFORMED && s == NULL);

    /* data writes by id */
    CHECK_OK(tessera_manager_data_set(m, id, "theme", "\"dark\"", NULL));
    CHECK_OK(tessera_manager_data_set(m, id, "n", "42", NULL));
    CHECK_OK(tessera_manager_data_remove(m, id, "cart", NULL));
    CHECK_OK(tessera_manager_data_remove(m, id, "absent", NULL));
    s = validate(m, tok4, true, &status, &reason);
    CHECK(status == TESSERA_STATUS_OK);
    check_data(s, "{\"n\":42,\"theme\":\"dark\"}");
    tessera_session_free(s);
    CHECK_OK(tessera_manager_data_replace(m, id, "{\"a\": {\"b\": null}}", NULL));
    s = validate(m, tok4, true, &status, &reason);
    check_data(s, "{\"a\":{\"b\":null}}");
    tessera_session_free(s);
    CHECK_STATUS(tessera_manager_data_set(m, id, "", "1", NULL), TESSERA_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(tessera_manager_data_set(m, id, "k", "not json", NULL),
                 TESSERA_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(tessera_manager_data_replace(m, id, "[1]", NULL), TESSERA_STATUS_INVALID_ARGUMENT);
    char big[5000];
    memset(big, 'x', sizeof big);
    big[0] = '"';
    big[sizeof big - 2] = '"';
    big[sizeof big - 1] = '\0';
    CHECK_STATUS(tessera_manager_data_set(m, id, "big", big, NULL), TESSERA_STATUS_DATA_TOO_LARGE);
    CHECK(strstr(tessera_last_error(), "max_data_bytes") != NULL);

    /* CSRF */
    char *csrf = NULL;
    CHECK_OK(tessera_manager_csrf_token(m, tok4, &csrf, NULL));
    CHECK(csrf != NULL && strlen(csrf) == 86);
    bool valid = false;
    CHECK_OK(tessera_manager_verify_csrf(m, tok4, csrf, &valid));
    CHECK(valid);
    CHECK_OK(tessera_manager_verify_csrf(m, tok4, "forged", &valid));
    CHECK(!valid);
    s = validate(m, tok4, true, &status, &reason);
    char *csrf2 = NULL;
    CHECK_OK(tessera_session_csrf_token(s, &csrf2));
    CHECK(csrf2 != NULL && strcmp(csrf, csrf2) != 0); /* masked: different every time */
    CHECK_OK(tessera_session_verify_csrf(s, csrf, &valid));
    CHECK(valid);
    CHECK_OK(tessera_session_verify_csrf(s, "", &valid));
    CHECK(!valid);
    tessera_session_free(s);
    tessera_string_free(csrf2);

    /* login: new token, the old one dead at once, data kept (the session was anonymous), a new
     * CSRF secret */
    s = NULL;
    CHECK_OK(tessera_manager_login(m, tok4, "alice", true, "agent/2", &s));
    char alice1[TESSERA_TOKEN_BUFFER_LEN];
    new_token(s, alice1);
    CHECK_OK(tessera_session_user(s, &user));
    CHECK_STR(user, "alice");
    check_data(s, "{\"a\":{\"b\":null}}");
    char alice1_id[TESSERA_ID_BUFFER_LEN];
    session_id(s, alice1_id);
    tessera_session_free(s);
    expect_rejected(m, tok4, TESSERA_REASON_UNKNOWN);
    CHECK_OK(tessera_manager_verify_csrf(m, alice1, csrf, &valid));
    CHECK(!valid);
    tessera_string_free(csrf);
    reason = TESSERA_REASON_NONE;
    CHECK_STATUS(tessera_manager_csrf_token(m, tok4, &csrf, &reason), TESSERA_STATUS_REJECTED);
    CHECK(reason == TESSERA_REASON_UNKNOWN);

    /* two more devices; max_sessions_per_user = 3 evicts the least recently seen on a fourth */
    char alice2[TESSERA_TOKEN_BUFFER_LEN], alice3[TESSERA_TOKEN_BUFFER_LEN];
    CHECK_OK(tessera_clock_advance(clock, 1000));
    CHECK_OK(tessera_manager_login(m, NULL, "alice", true, "agent/3", &s));
    new_token(s, alice2);
    tessera_session_free(s);
    CHECK_OK(tessera_clock_advance(clock, 1000));
    CHECK_OK(tessera_manager_login(m, NULL, "alice", true, NULL, &s));
    new_token(s, alice3);
    tessera_session_free(s);
    char *list = NULL;
    CHECK_OK(tessera_manager_list_user(m, "alice", &list));
    CHECK(list != NULL && list[0] == '[');
    CHECK(list != NULL && strstr(list, alice1_id) != NULL);
    CHECK(list != NULL && strstr(list, "\"user_agent\":\"agent/2\"") != NULL);
    CHECK(list != NULL && strstr(list, alice1) == NULL && strstr(list, alice2) == NULL);
    /* most recently seen first: alice3's session, then alice2's, then alice1's */
    char alice3_id[TESSERA_ID_BUFFER_LEN], alice2_listed[TESSERA_ID_BUFFER_LEN];
    CHECK_OK(tessera_manager_id_of(m, alice3, alice3_id, sizeof alice3_id, NULL));
    CHECK_OK(tessera_manager_id_of(m, alice2, alice2_listed, sizeof alice2_listed, NULL));
    const char *p3 = list ? strstr(list, alice3_id) : NULL, *p2 = list ? strstr(list, alice2_listed) : NULL,
               *p1 = list ? strstr(list, alice1_id) : NULL;
    CHECK(p3 != NULL && p2 != NULL && p1 != NULL && p3 < p2 && p2 < p1);
    tessera_string_free(list);
    CHECK_OK(tessera_manager_login(m, NULL, "alice", true, NULL, &s)); /* fourth */
    tessera_session_free(s);
    expect_rejected(m, alice1, TESSERA_REASON_UNKNOWN); /* evicted */
    CHECK_OK(tessera_manager_list_user(m, "nobody", &list));
    CHECK_STR(list, "[]");
    tessera_string_free(list);

    /* sign out my other devices */
    size_t count = 99;
    CHECK_OK(tessera_manager_revoke_user_except(m, "alice", alice2, &count));
    CHECK(count == 2);
    expect_rejected(m, alice3, TESSERA_REASON_UNKNOWN);
    s = validate(m, alice2, true, &status, &reason);
    CHECK(status == TESSERA_STATUS_OK);
    tessera_session_free(s);

    /* revoke by id */
    char alice2_id[TESSERA_ID_BUFFER_LEN];
    CHECK_OK(tessera_manager_id_of(m, alice2, alice2_id, sizeof alice2_id, NULL));
    bool ended = false;
    CHECK_OK(tessera_manager_revoke(m, alice2_id, &ended));
    CHECK(ended);
    CHECK_OK(tessera_manager_revoke(m, alice2_id, &ended));
    CHECK(!ended);
    CHECK_STATUS(tessera_manager_revoke(m, "not-hex", &ended), TESSERA_STATUS_INVALID_ARGUMENT);
    expect_rejected(m, alice2, TESSERA_REASON_UNKNOWN);

    /* writes after the session ended do not resurrect it */
    reason = TESSERA_REASON_NONE;
    CHECK_STATUS(tessera_manager_data_set(m, alice2_id, "k", "1", &reason),
                 TESSERA_STATUS_REJECTED);
    CHECK(reason == TESSERA_REASON_UNKNOWN);
    CHECK_STATUS(tessera_manager_data_remove(m, alice2_id, "k", &reason), TESSERA_STATUS_REJECTED);
    CHECK_STATUS(tessera_manager_data_replace(m, alice2_id, "{}", &reason),
                 TESSERA_STATUS_REJECTED);
    CHECK(strstr(tessera_last_error(), "unknown") == tessera_last_error());

    /* logout */
    CHECK_OK(tessera_manager_login(m, NULL, "bob", false, NULL, &s));
    char bob[TESSERA_TOKEN_BUFFER_LEN];
    new_token(s, bob);
    tessera_session_free(s);
    CHECK_OK(tessera_manager_logout(m, bob, &ended));
    CHECK(ended);
    CHECK_OK(tessera_manager_logout(m, bob, &ended));
    CHECK(!ended);
    CHECK_OK(tessera_manager_logout(m, "garbage", NULL));
    expect_rejected(m, bob, TESSERA_REASON_UNKNOWN);

    /* idle and absolute expiry, sweeping */
    size_t len = 0;
    CHECK_OK(tessera_manager_revoke_all(m, &count));
    CHECK_OK(tessera_manager_store_len(m, &len));
    CHECK(len == 0);
    char idle[TESSERA_TOKEN_BUFFER_LEN], busy[TESSERA_TOKEN_BUFFER_LEN];
    CHECK_OK(tessera_manager_create(m, "carol", NULL, true, NULL, &s));
    new_token(s, idle);
    tessera_session_free(s);
    CHECK_OK(tessera_manager_create(m, "carol", NULL, true, NULL, &s));
    new_token(s, busy);
    tessera_session_free(s);
    for (int i = 0; i < 3; i++) { /* keep `busy` active */
        CHECK_OK(tessera_clock_advance(clock, 25000));
        s = validate(m, busy, true, &status, &reason);
        CHECK(status == TESSERA_STATUS_OK);
        bool rotated = false;
        CHECK_OK(tessera_session_has_new_token(s, &rotated));
        if (rotated) CHECK_OK(tessera_session_new_token(s, busy, sizeof busy));
        tessera_session_free(s);
    }
    expect_rejected(m, idle, TESSERA_REASON_EXPIRED_IDLE);
    CHECK_OK(tessera_manager_create(m, "dave", NULL, true, NULL, &s));
    tessera_session_free(s);
    CHECK_OK(tessera_clock_advance(clock, 60000));
    CHECK_OK(tessera_manager_sweep(m, &count));
    CHECK(count >= 2); /* dave's, and carol's busy one, idle now */
    CHECK_OK(tessera_manager_store_len(m, &len));
    CHECK(len == 0);

    CHECK_OK(tessera_manager_create(m, NULL, NULL, true, NULL, &s));
    char mortal[TESSERA_TOKEN_BUFFER_LEN];
    new_token(s, mortal);
    tessera_session_free(s);
    for (int i = 0; i < 12; i++) { /* active, but only for the absolute timeout */
        CHECK_OK(tessera_clock_advance(clock, 50000));
        s = validate(m, mortal, true, &status, &reason);
        if (status != TESSERA_STATUS_OK) break;
        bool rotated = false;
        CHECK_OK(tessera_session_has_new_token(s, &rotated));
        if (rotated) CHECK_OK(tessera_session_new_token(s, mortal, sizeof mortal));
        tessera_session_free(s);
    }
    CHECK(status == TESSERA_STATUS_REJECTED && reason == TESSERA_REASON_EXPIRED_ABSOLUTE);

    /* malformed input is refused without a session */
    expect_rejected(m, "", TESSERA_REASON_MALFORMED);
    expect_rejected(m, "not a token", TESSERA_REASON_MALFORMED);
    char bad_id[TESSERA_ID_BUFFER_LEN] = "untouched";
    reason = TESSERA_REASON_NONE;
    CHECK_STATUS(tessera_manager_id_of(m, "AAAA", bad_id, sizeof bad_id, &reason),
                 TESSERA_STATUS_REJECTED);
    CHECK(reason == TESSERA_REASON_MALFORMED);
    CHECK_STR(bad_id, "untouched");
    CHECK_STATUS(tessera_manager_set_cookie(m, "AAAA", &cookie), TESSERA_STATUS_INVALID_ARGUMENT);
    CHECK(strstr(tessera_last_error(), "AAAA") == NULL);

    /* revoke_user and revoke_all */
    for (int i = 0; i < 3; i++) {
        CHECK_OK(tessera_manager_create(m, "erin", NULL, true, NULL, &s));
        tessera_session_free(s);
    }
    CHECK_OK(tessera_manager_create(m, NULL, NULL, true, NULL, &s));
    tessera_session_free(s);
    CHECK_OK(tessera_manager_revoke_user(m, "erin", &count));
    CHECK(count == 3);
    CHECK_OK(tessera_manager_revoke_user(m, "erin", &count));
    CHECK(count == 0);
    CHECK_STATUS(tessera_manager_revoke_user(m, "", &count), TESSERA_STATUS_INVALID_ARGUMENT);
    CHECK_OK(tessera_manager_revoke_all(m, &count));
    CHECK(count == 1);

    /* events: every transition was seen, in order, with ids and users, never a token */
    int i = find_event(log, 0, "created");
    CHECK(i == 0);
    CHECK(i >= 0 && log->user[i][0] == '\0' && strlen(log->id[i]) == 64);
    CHECK(i >= 0 && log->at[i] == START);
    int r = find_event(log, 0, "rotated");
    CHECK(r > 0 && strlen(log->previous[r]) == 64 && strcmp(log->previous[r], log->id[r]) != 0);
    int l = find_event(log, 0, "login");
    CHECK(l > r && strcmp(log->user[l], "alice") == 0);
    int rej = find_event(log, 0, "rejected");
    CHECK(rej > 0 && strcmp(log->reason[rej], "unknown") == 0);
    int e = find_event(log, 0, "expired");
    CHECK(e > 0 && strcmp(log->reason[e], "expired_idle") == 0 && strcmp(log->user[e], "carol") == 0);
    int lo = find_event(log, 0, "logout");
    CHECK(lo > 0 && strcmp(log->user[lo], "bob") == 0);
    int rv = find_event(log, 0, "revoked");
    CHECK(rv > 0);
    CHECK(strcmp(log->kind[log->count - 1], "revoked") == 0 && log->id[log->count - 1][0] == '\0');
    int malformed = -1;
    for (int k = 0; k < log->count; k++)
        if (strcmp(log->kind[k], "rejected") == 0 && strcmp(log->reason[k], "malformed") == 0) {
            malformed = k;
            break;
        }
    CHECK(malformed >= 0 && log->id[malformed][0] == '\0');
    const char *tokens[] = {tok, tok2, tok3, tok4, alice1, alice2, alice3, bob, idle, busy, mortal};
    for (size_t t = 0; t < sizeof tokens / sizeof tokens[0]; t++)
        CHECK(strstr(log->seen, tokens[t]) == NULL);

    tessera_manager_free(m);
    tessera_clock_free(clock);
    free(log);
}

/* A listener that calls back into the manager it listens to. */
struct reentrant {
    tessera_manager *m;
    int calls;
};

static void on_event_reenter(void *user_data, const tessera_event *event) {
    struct reentrant *r = user_data;
    size_t len = 0;
    (void)event;
    if (tessera_manager_store_len(r->m, &len) == TESSERA_STATUS_OK) r->calls++;
}

static void test_reentrant_listener(void) {
    tessera_manager *m = NULL;
    CHECK_OK(tessera_manager_new("{\"sweep_interval_ms\": null}", NULL, &m));
    struct reentrant r = {m, 0};
    CHECK_OK(tessera_manager_add_listener(m, on_event_reenter, &r));
    tessera_session *s = NULL;
    CHECK_OK(tessera_manager_create(m, "zed", NULL, true, NULL, &s));
    tessera_session_free(s);
    size_t count = 0;
    CHECK_OK(tessera_manager_revoke_user(m, "zed", &count));
    CHECK(count == 1 && r.calls == 2);
    tessera_manager_free(m);
}

/* ---- the per-request protocol ---------------------------------------------------------- */

/* One request through begin → finish with the Cookie header `cookie` ("name=value" or NULL);
 * returns the response (the caller frees it) and writes the next request's "name=value" into
 * `next` when the response sets a cookie. */
static tessera_response *finish_plain(tessera_request *r, tessera_manager *m, const char *data,
                                      int auth, const char *user, char next[128]) {
    tessera_response *resp = NULL;
    CHECK_OK(tessera_request_finish(r, m, data, auth, user, false, TESSERA_EXPIRY_NONE, 0, false,
                                    false, &resp));
    const char *line = NULL;
    if (resp != NULL && tessera_response_set_cookie(resp, &line) == TESSERA_STATUS_OK &&
        line != NULL && next != NULL)
        snprintf(next, 128, "%.*s", (int)strcspn(line, ";"), line);
    return resp;
}

static char *request_data(const tessera_request *r) {
    char *json = NULL;
    CHECK_OK(tessera_request_data_json(r, &json));
    return json;
}

static void test_request_protocol(void) {
    tessera_clock *clock = NULL;
    tessera_manager *m = NULL;
    CHECK_OK(tessera_clock_new(START, &clock));
    CHECK_OK(tessera_manager_new("{\"sweep_interval_ms\": null}", clock, &m));
    char cookie[128] = "", first[128] = "";
    tessera_request *r = NULL;
    tessera_response *resp = NULL;
    const char *text = NULL;
    bool flag = false;
    tessera_csrf csrf = TESSERA_CSRF_VALID;
    size_t len = 99;

    /* A visitor reads: nothing stored, nothing sent. */
    CHECK_OK(tessera_request_begin(m, NULL, true, "GET", "ua", NULL, &r));
    CHECK_OK(tessera_request_csrf(r, &csrf));
    CHECK(csrf == TESSERA_CSRF_NOT_NEEDED);
    char *json = request_data(r);
    CHECK_STR(json, "{}");
    tessera_string_free(json);
    resp = finish_plain(r, m, "{}", TESSERA_AUTH_UNCHANGED, NULL, cookie);
    CHECK_OK(tessera_response_set_cookie(resp, &text));
    CHECK(text == NULL);
    CHECK_OK(tessera_response_no_store(resp, &flag));
    CHECK(!flag);
    tessera_response_free(resp);
    CHECK_OK(tessera_manager_store_len(m, &len));
    CHECK(len == 0);

    /* The first write makes the session: a new cookie with the defaults, and no-store. */
    CHECK_OK(tessera_request_begin(m, "theme=dark", true, "POST", "ua", NULL, &r));
    CHECK_OK(tessera_request_csrf(r, &csrf));
    CHECK(csrf == TESSERA_CSRF_INVALID); /* the app decides whether this route needs it */
    resp = finish_plain(r, m, "{\"cart\": [1]}", TESSERA_AUTH_UNCHANGED, NULL, cookie);
    CHECK_OK(tessera_response_set_cookie(resp, &text));
    CHECK(text != NULL && strncmp(text, "__Host-session=", 15) == 0 &&
          strstr(text, "; Secure") != NULL && strstr(text, "HttpOnly") != NULL);
    CHECK_OK(tessera_response_no_store(resp, &flag));
    CHECK(flag);
    char id[TESSERA_ID_BUFFER_LEN] = "", rid[TESSERA_ID_BUFFER_LEN] = "";
    CHECK_OK(tessera_response_session_id(resp, id, sizeof id, &flag));
    CHECK(flag && strlen(id) == 64);
    tessera_response_free(resp);
    snprintf(first, sizeof first, "%s", cookie);

    /* The next request sees the data; an in-place change is found and saved; no cookie. */
    CHECK_OK(tessera_request_begin(m, cookie, true, "GET", "ua", NULL, &r));
    json = request_data(r);
    CHECK_STR(json, "{\"cart\":[1]}");
    tessera_string_free(json);
    CHECK_OK(tessera_request_id(r, rid, sizeof rid, &flag));
    CHECK(flag);
    CHECK_STR(rid, id);
    char *token = NULL;
    CHECK_OK(tessera_request_csrf_token(r, m, &token));
    resp = finish_plain(r, m, "{\"cart\": [1, 2]}", TESSERA_AUTH_UNCHANGED, NULL, NULL);
    CHECK_OK(tessera_response_set_cookie(resp, &text));
    CHECK(text == NULL);
    tessera_response_free(resp);

    /* A POST with the session's CSRF token passes; an eager login replaces the token. */
    CHECK_OK(tessera_request_begin(m, cookie, true, "POST", "ua", token, &r));
    tessera_string_free(token);
    CHECK_OK(tessera_request_csrf(r, &csrf));
    CHECK(csrf == TESSERA_CSRF_VALID);
    CHECK_OK(tessera_request_login(r, m, "alice"));
    CHECK_OK(tessera_request_user(r, &text));
    CHECK_STR(text, "alice");
    json = request_data(r);
    CHECK_STR(json, "{\"cart\":[1,2]}");
    tessera_string_free(json);
    resp = finish_plain(r, m, "{\"cart\":[1,2]}", TESSERA_AUTH_UNCHANGED, NULL, cookie);
    CHECK(strcmp(cookie, first) != 0);
    CHECK_OK(tessera_response_user(resp, &text));
    CHECK_STR(text, "alice");
    tessera_response_free(resp);

    /* The pre-login cookie is dead: anonymous, reason unknown, cleared with no-store. */
    tessera_reason reason = TESSERA_REASON_NONE;
    CHECK_OK(tessera_request_begin(m, first, true, "GET", NULL, NULL, &r));
    CHECK_OK(tessera_request_reason(r, &reason));
    CHECK(reason == TESSERA_REASON_UNKNOWN);
    CHECK_OK(tessera_request_user(r, &text));
    CHECK(text == NULL);
    resp = finish_plain(r, m, NULL, TESSERA_AUTH_UNCHANGED, NULL, NULL);
    CHECK_OK(tessera_response_set_cookie(resp, &text));
    CHECK(text != NULL && strstr(text, "Max-Age=0") != NULL);
    tessera_response_free(resp);

    /* An expiry set by the app shortens the idle time and gives the cookie a Max-Age. */
    CHECK_OK(tessera_request_begin(m, cookie, true, "POST", NULL, NULL, &r));
    CHECK_OK(tessera_request_set_expiry(r, m, TESSERA_EXPIRY_IDLE, 60000));
    CHECK_OK(tessera_request_finish(r, m, NULL, TESSERA_AUTH_UNCHANGED, NULL, false,
                                    TESSERA_EXPIRY_IDLE, 60000, true, false, &resp));
    CHECK_OK(tessera_response_set_cookie(resp, &text));
    CHECK(text != NULL && strncmp(text, cookie, strlen(cookie)) == 0 &&
          strstr(text, "Max-Age=") != NULL);
    tessera_response_free(resp);
    CHECK_OK(tessera_clock_advance(clock, 61000));
    CHECK_OK(tessera_request_begin(m, cookie, true, "GET", NULL, NULL, &r));
    CHECK_OK(tessera_request_reason(r, &reason));
    CHECK(reason == TESSERA_REASON_EXPIRED_IDLE);
    tessera_request_free(r); /* abandoned: nothing written, nothing sent */

    /* An error response writes nothing and signs nobody in. */
    CHECK_OK(tessera_request_begin(m, NULL, true, "POST", NULL, NULL, &r));
    CHECK_OK(tessera_request_finish(r, m, "{\"a\": 1}", TESSERA_AUTH_LOGGED_IN, "bob", false,
                                    TESSERA_EXPIRY_NONE, 0, false, true, &resp));
    CHECK_OK(tessera_response_set_cookie(resp, &text));
    CHECK(text == NULL);
    tessera_response_free(resp);

    /* A logout through finish ends the session and clears the cookie. */
    CHECK_OK(tessera_request_begin(m, NULL, true, "POST", NULL, NULL, &r));
    resp = finish_plain(r, m, NULL, TESSERA_AUTH_LOGGED_IN, "carol", cookie);
    tessera_response_free(resp);
    CHECK_OK(tessera_request_begin(m, cookie, true, "POST", NULL, NULL, &r));
    resp = finish_plain(r, m, NULL, TESSERA_AUTH_USER, NULL, NULL); /* nobody: a logout */
    CHECK_OK(tessera_response_set_cookie(resp, &text));
    CHECK(text != NULL && strstr(text, "Max-Age=0") != NULL);
    CHECK_OK(tessera_response_ended(resp, &flag));
    CHECK(!flag);
    CHECK_OK(tessera_response_session_id(resp, id, sizeof id, &flag));
    CHECK(!flag && id[0] == '\0');
    tessera_response_free(resp);
    CHECK_OK(tessera_manager_store_len(m, &len));
    CHECK(len == 0);

    tessera_manager_free(m);
    tessera_clock_free(clock);
}

int main(void) {
    test_strings_and_version();
    test_clock();
    test_defaults();
    test_session_cap();
    test_config_errors();
    test_store_sharing();
    test_clock_handle_may_go_first();
    test_lifecycle();
    test_reentrant_listener();
    test_request_protocol();
    return check_summary();
}
