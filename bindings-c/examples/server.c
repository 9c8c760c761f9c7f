/*
 * server.c: a small HTTP service in C on libmicrohttpd, with Tessera sessions.
 *
 * Every request goes through the same three steps, and nothing else touches the session:
 *
 *   tessera_request_begin   the Cookie header, HTTPS or not, the method, the User-Agent and the
 *                           X-CSRF-Token header in; the request's session (or none, and why) out
 *   the app                 reads the session (user, data as JSON), may sign in or out, cycle
 *                           the key, mint a CSRF token; decides its status and body
 *   tessera_request_finish  the data as the app left it, the user change, the expiry and
 *                           whether the response is an error in; the Set-Cookie and
 *                           Cache-Control headers out, added to the response as they are
 *
 * Which cookie to send or clear, when no-store is needed, which methods need a CSRF token,
 * which data changed and when a user change is a sign-in are Tessera's decisions, the same as
 * in Flask, Django and Express. The app only says what it did.
 *
 * The app (see README.md):
 *
 *   GET  /                    a page: the sign-in form, or who you are and the sign-out forms
 *   POST /login               form fields user, password: sign in (303 to /), or 401
 *   GET  /me                  protected: 200 "user=...\ncsrf=...\n", or 401
 *   POST /logout              form field csrf: end this session
 *   POST /logout-everywhere   form field csrf: end every session of this user
 *
 * and, with "dbsc": true in the options (over HTTPS: behind a proxy, --trust-proxy), the two
 * device-bound session endpoints, a sign-in that offers the browser a binding, /account,
 * /device (a bound session required), the re-authentication page /reauth, and /change-password
 * and /security, guarded by require_recent (device_binding.h). The re-authentication routes
 * work without dbsc too.
 *
 * and, with --test, the reference app of the HTTP conformance corpus (tests/http/README.md:
 * JSON bodies, /read, /set, ..., and /login and /logout when the body is JSON — a sign-in
 * without a password, which is why it exists only in test mode), on a manual clock, with test
 * controls under /__ (advance the clock, count the store, hold a request between the app and
 * finish, start afresh with other options). Without --test those paths do not exist.
 *
 * It listens on plain HTTP on 127.0.0.1, so by default the cookie is configured without the
 * __Host- prefix and without Secure (a browser would never send a Secure cookie over http://).
 * Behind TLS, keep Tessera's defaults (__Host-session, Secure). See README.md.
 *
 * Usage: server [--store URL] [--options JSON] [--trust-proxy] [--test] [PORT]
 *   PORT             0 or absent: a free port. Prints "listening on http://127.0.0.1:PORT".
 *   --store URL      the session store ("memory://" by default, or "redis://host:port/db...")
 *   --options JSON   the manager's options (default {"cookie_name": "session",
 *                    "cookie_secure": false}); --store overrides their "store"
 *   --trust-proxy    the request arrived over HTTPS when X-Forwarded-Proto says "https" (only
 *                    behind a proxy that sets it)
 *   --test           test mode: a manual clock at 1700000000000 ms, no background sweeper, the
 *                    reference app and the /__ controls. Never expose it.
 * It runs until SIGINT or SIGTERM, then shuts down cleanly.
 */
#define _POSIX_C_SOURCE 200809L

#include <arpa/inet.h>
#include <errno.h>
#include <jansson.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "tessera.h"

/* The session options: plain HTTP on loopback, so no __Host- prefix and no Secure flag. */
static const char *DEFAULT_OPTIONS = "{\"cookie_name\": \"session\", \"cookie_secure\": false}";
/* Where the manual clock of test mode starts (the corpora's start). */
#define TEST_START_MS 1700000000000ULL
/* The largest request body read; a larger one is refused with 413. */
#define BODY_MAX (1024 * 1024)

/* A tiny built-in user table. A real service stores password hashes (argon2, scrypt), never
 * passwords. */
static const struct {
    const char *user, *password;
} USERS[] = {{"alice", "wonderland"}, {"bob", "builder"}};

static struct {
    int test_mode, trust_proxy;
    const char *store, *options;
} settings;

/* The manager (and in test mode its clock) is replaced only by POST /__reset, which waits for
 * every request in flight: requests hold the read side from begin to finish. */
static pthread_rwlock_t state_lock = PTHREAD_RWLOCK_INITIALIZER;
static tessera_manager *manager;
static tessera_clock *test_clock;

static void wipe(void *p, size_t n) {
    volatile unsigned char *v = p;
    while (n--) *v++ = 0;
}

/* ---- the manager ---------------------------------------------------------------------- */

static void demo_record(const tessera_event *event); /* demo_site.h */

/* Test mode: the events since the last /__events, for the tests to assert (no token is ever in
 * an event). */
#define EVENTS_MAX 256
static struct {
    pthread_mutex_t lock;
    json_t *list; /* NULL outside test mode */
} recorded = {PTHREAD_MUTEX_INITIALIZER, NULL};

/* An audit log on stderr: ids and users, never tokens (and with --demo, the shared events
 * file too). */
static void on_event(void *user_data, const tessera_event *event) {
    const char *id = tessera_event_id(event), *user = tessera_event_user(event),
               *reason = tessera_event_reason(event), *detail = tessera_event_detail(event);
    (void)user_data;
    fprintf(stderr, "event %s id=%.12s user=%s%s%s%s%s\n", tessera_event_kind(event),
            id ? id : "-", user ? user : "-", reason ? " reason=" : "", reason ? reason : "",
            detail ? " detail=" : "", detail ? detail : "");
    pthread_mutex_lock(&recorded.lock);
    if (recorded.list != NULL && json_array_size(recorded.list) < EVENTS_MAX)
        json_array_append_new(recorded.list,
                              json_pack("{s:s,s:s?,s:s?,s:s?,s:s?}", "kind",
                                        tessera_event_kind(event), "id", id, "user", user,
                                        "reason", reason, "detail", detail));
    pthread_mutex_unlock(&recorded.lock);
    demo_record(event);
}

/* Build a manager from `options` (JSON object text) with --store applied and, in test mode, a
 * fresh manual clock and no sweeper. Returns NULL (and says why on stderr) on failure. */
static tessera_manager *make_manager(const char *options, tessera_clock **clock_out,
                                     char *why, size_t why_len) {
    json_error_t error;
    json_t *opts = json_loads(options, 0, &error);
    if (!json_is_object(opts)) {
        snprintf(why, why_len, "options must be a JSON object");
        json_decref(opts);
        return NULL;
    }
    if (settings.store != NULL && json_object_get(opts, "store") == NULL)
        json_object_set_new(opts, "store", json_string(settings.store));
    tessera_clock *clock = NULL;
    if (settings.test_mode) {
        json_object_set_new(opts, "sweep_interval_ms", json_null());
        if (tessera_clock_new(TEST_START_MS, &clock) != TESSERA_STATUS_OK) {
            snprintf(why, why_len, "%s", tessera_last_error());
            json_decref(opts);
            return NULL;
        }
    }
    char *text = json_dumps(opts, JSON_COMPACT);
    json_decref(opts);
    tessera_manager *m = NULL;
    if (text == NULL || tessera_manager_new(text, clock, &m) != TESSERA_STATUS_OK) {
        snprintf(why, why_len, "%s", text ? tessera_last_error() : "out of memory");
        free(text);
        tessera_clock_free(clock);
        return NULL;
    }
    free(text);
    tessera_manager_add_listener(m, on_event, NULL);
    /* What the operator should hear about the store's configuration, once, at start. */
    char *warnings = NULL;
    if (tessera_manager_store_warnings(m, &warnings) == TESSERA_STATUS_OK) {
        json_t *list = json_loads(warnings, 0, NULL);
        size_t i;
        json_t *item;
        json_array_foreach(list, i, item) {
            fprintf(stderr, "tessera: warning: %s\n", json_string_value(item));
        }
        json_decref(list);
        tessera_string_free(warnings);
    }
    *clock_out = clock;
    return m;
}

/* ---- what the request brings ---------------------------------------------------------- */

/* Every Cookie header, joined with "; " (HTTP/2 proxies may split it into several), whatever
 * its length: Tessera, not a buffer size here, decides what a long or odd header means. */
struct cookies {
    char *text; /* malloc'd; NULL: no Cookie header */
    size_t len;
    int out_of_memory;
};

static enum MHD_Result collect_cookie(void *cls, enum MHD_ValueKind kind, const char *key,
                                      const char *value) {
    struct cookies *c = cls;
    (void)kind;
    if (key == NULL || value == NULL || strcasecmp(key, "Cookie") != 0) return MHD_YES;
    size_t add = strlen(value), sep = c->text != NULL ? 2 : 0;
    char *grown = realloc(c->text, c->len + sep + add + 1);
    if (grown == NULL) {
        c->out_of_memory = 1;
        return MHD_NO;
    }
    if (sep) memcpy(grown + c->len, "; ", 2);
    memcpy(grown + c->len + sep, value, add + 1);
    c->text = grown;
    c->len += sep + add;
    return MHD_YES;
}

static const char *header(struct MHD_Connection *conn, const char *name) {
    return MHD_lookup_connection_value(conn, MHD_HEADER_KIND, name);
}

/* One connection's request: its body, read in pieces. */
struct upload {
    char *body;
    size_t len, cap;
    int too_big;
};

static void append_body(struct upload *up, const char *data, size_t size) {
    if (up->too_big || size == 0) return;
    if (up->len + size > BODY_MAX) {
        up->too_big = 1;
        return;
    }
    if (up->len + size + 1 > up->cap) {
        size_t cap = up->cap ? up->cap : 1024;
        while (cap < up->len + size + 1) cap *= 2;
        char *grown = realloc(up->body, cap);
        if (grown == NULL) {
            up->too_big = 1;
            return;
        }
        up->body = grown;
        up->cap = cap;
    }
    memcpy(up->body + up->len, data, size);
    up->len += size;
    up->body[up->len] = '\0';
}

/* The value of form field `name` in an application/x-www-form-urlencoded body, decoded into
 * `out` ("" if absent or longer than `out`). */
static void form_field(const char *body, const char *name, char *out, size_t out_len) {
    size_t name_len = strlen(name);
    out[0] = '\0';
    for (const char *p = body; p != NULL && *p;) {
        const char *end = strchr(p, '&');
        size_t pair = end ? (size_t)(end - p) : strlen(p);
        if (pair > name_len && strncmp(p, name, name_len) == 0 && p[name_len] == '=') {
            size_t o = 0;
            for (const char *v = p + name_len + 1; v < p + pair; v++) {
                char c = *v;
                if (c == '+') {
                    c = ' ';
                } else if (c == '%' && v + 2 < p + pair + 1 && v[1] && v[2]) {
                    char hex[3] = {v[1], v[2], 0};
                    c = (char)strtol(hex, NULL, 16);
                    v += 2;
                }
                if (o + 1 >= out_len) {
                    out[0] = '\0';
                    return;
                }
                out[o++] = c;
            }
            out[o] = '\0';
            return;
        }
        p = end ? end + 1 : NULL;
    }
}

/* ---- what the app decides ------------------------------------------------------------- */

/* What the app did with a request: its answer, and what finish must be told. */
struct reply {
    unsigned status;
    char *body; /* malloc'd */
    const char *content_type;
    const char *location;
    char where[512]; /* a location made for this reply */
    int personal; /* the page shows a CSRF token: never cached, whatever finish says */
    int stream;   /* the body goes out in several chunks */
    /* for finish */
    json_t *data; /* the session data as the app left it; NULL: the app did not touch it */
    int auth;
    char user[256];
    int expiry;
    uint64_t expiry_ms;
    int expiry_changed;
};

static void reply_text(struct reply *r, unsigned status, const char *type, const char *text) {
    r->status = status;
    r->content_type = type;
    free(r->body);
    r->body = strdup(text);
}

/* Answer with `json` (stolen). */
static void reply_json(struct reply *r, unsigned status, json_t *json) {
    r->status = status;
    r->content_type = "application/json";
    free(r->body);
    r->body = json_dumps(json, JSON_COMPACT);
    json_decref(json);
}

/* The answer to a Tessera error the app cannot handle itself (tests/http/README.md). */
static void reply_error(struct reply *r, tessera_status st) {
    /* The store's conditions pass (it comes back; sessions end under max_sessions): 503. */
    unsigned status = st == TESSERA_STATUS_STORE_UNAVAILABLE || st == TESSERA_STATUS_STORE_FULL
                          ? 503
                      : st == TESSERA_STATUS_INVALID_ARGUMENT ? 400
                                                              : 500;
    const char *code = tessera_status_str((int)st);
    fprintf(stderr, "tessera: %s\n", tessera_last_error()); /* never holds a token */
    reply_json(r, status, json_pack("{s:s}", "error", code ? code : "internal"));
}

/* The session data as the app sees it. */
static json_t *load_data(const tessera_request *req) {
    char *text = NULL;
    json_t *data = NULL;
    if (tessera_request_data_json(req, &text) == TESSERA_STATUS_OK)
        data = json_loads(text, 0, NULL);
    tessera_string_free(text);
    return json_is_object(data) ? data : (json_decref(data), json_object());
}

static const char *request_user(const tessera_request *req) {
    const char *user = NULL;
    return tessera_request_user(req, &user) == TESSERA_STATUS_OK ? user : NULL;
}

/* ---- the example's own pages (password sign-in) --------------------------------------- */

/* Constant-time string comparison, so a wrong password's timing does not tell how close it was. */
static int same_secret(const char *a, const char *b) {
    size_t la = strlen(a), lb = strlen(b);
    unsigned char diff = (unsigned char)(la != lb);
    for (size_t i = 0; i < la; i++) diff |= (unsigned char)(a[i] ^ b[i % (lb ? lb : 1)]);
    return diff == 0;
}

static const char *check_password(const char *user, const char *password) {
    const char *found = NULL;
    for (size_t i = 0; i < sizeof USERS / sizeof USERS[0]; i++)
        if (same_secret(user, USERS[i].user) & same_secret(password, USERS[i].password))
            found = USERS[i].user;
    return found;
}

/* The form's CSRF field must be a token of this session (SameSite=Lax covers the sign-in). */
static int form_csrf_ok(const tessera_request *req, const char *body) {
    char csrf[256];
    bool valid = false;
    form_field(body, "csrf", csrf, sizeof csrf);
    return csrf[0] && tessera_request_verify_csrf(req, csrf, &valid) == TESSERA_STATUS_OK && valid;
}

static void page(tessera_request *req, struct reply *r) {
    const char *user = request_user(req);
    char *csrf = NULL;
    char body[2048];
    if (user != NULL && tessera_request_csrf_token(req, manager, &csrf) == TESSERA_STATUS_OK) {
        snprintf(body, sizeof body,
                 "<!doctype html><title>Tessera example</title>"
                 "<p>Signed in as <b>%s</b>. <a href=\"/me\">/me</a></p>"
                 "<form method=post action=/logout><input type=hidden name=csrf value=\"%s\">"
                 "<button>Sign out</button></form>"
                 "<form method=post action=/logout-everywhere>"
                 "<input type=hidden name=csrf value=\"%s\"><button>Sign out everywhere</button>"
                 "</form>",
                 user, csrf, csrf); /* user names come from the built-in table: no escaping */
        r->personal = 1;
    } else {
        snprintf(body, sizeof body,
                 "<!doctype html><title>Tessera example</title>"
                 "<form method=post action=/login><input name=user placeholder=user>"
                 "<input name=password type=password placeholder=password>"
                 "<button>Sign in</button></form>");
    }
    tessera_string_free(csrf);
    reply_text(r, MHD_HTTP_OK, "text/html", body);
    wipe(body, sizeof body);
}

static void me(tessera_request *req, struct reply *r) {
    const char *user = request_user(req);
    char *csrf = NULL;
    tessera_status st;
    if (user == NULL) {
        reply_text(r, MHD_HTTP_UNAUTHORIZED, "text/plain", "not signed in\n");
    } else if ((st = tessera_request_csrf_token(req, manager, &csrf)) != TESSERA_STATUS_OK) {
        reply_error(r, st);
    } else {
        char body[512];
        snprintf(body, sizeof body, "user=%s\ncsrf=%s\n", user, csrf);
        reply_text(r, MHD_HTTP_OK, "text/plain", body);
        r->personal = 1;
        wipe(body, sizeof body);
    }
    tessera_string_free(csrf);
}

static void password_login(tessera_request *req, const char *body, struct reply *r) {
    char name[256], password[256];
    form_field(body, "user", name, sizeof name);
    form_field(body, "password", password, sizeof password);
    const char *user = check_password(name, password);
    wipe(password, sizeof password);
    if (user == NULL) {
        reply_text(r, MHD_HTTP_UNAUTHORIZED, "text/plain", "wrong user or password\n");
        return;
    }
    /* A sign-in: the visitor's token (if any) dies at once, so a planted one is worthless. */
    /* One factor, a password (step-up: /reauth with a one-time code raises it to 2). Over HTTPS
     * with dbsc on, the response also offers the browser a device binding. */
    tessera_status st = tessera_request_login_with(req, manager, user, 1, "[\"pwd\"]");
    if (st != TESSERA_STATUS_OK) return reply_error(r, st);
    reply_text(r, MHD_HTTP_SEE_OTHER, "text/plain", "signed in\n");
    r->location = "/";
}

static void form_logout(tessera_request *req, const char *body, struct reply *r,
                        int everywhere) {
    const char *user = request_user(req);
    if (user == NULL) return reply_text(r, MHD_HTTP_UNAUTHORIZED, "text/plain", "not signed in\n");
    if (!form_csrf_ok(req, body))
        return reply_text(r, MHD_HTTP_FORBIDDEN, "text/plain", "missing or wrong CSRF token\n");
    char text[64] = "signed out\n";
    if (everywhere) {
        size_t count = 0;
        tessera_status st = tessera_manager_revoke_user(manager, user, &count);
        if (st != TESSERA_STATUS_OK) return reply_error(r, st);
        snprintf(text, sizeof text, "signed out of %zu session(s)\n", count);
    }
    r->auth = TESSERA_AUTH_LOGGED_OUT; /* finish ends the session and clears the cookie */
    reply_text(r, MHD_HTTP_OK, "text/plain", text);
}

/* ---- the reference app of tests/http (test mode) -------------------------------------- */

/* Keys the app keeps for itself in the session, left out of what /read shows: the flashes, and
 * the expiry /expiry chose (finish is told it on every request, the way Flask keeps _permanent
 * and Django _session_expiry). */
#define FLASHES "_flashes"
#define EXPIRY "_expiry"

/* The expiry an /expiry body asks for (Django's set_expiry, Flask's permanent). */
static void expiry_of(const json_t *body, int *kind, uint64_t *ms) {
    const json_t *seconds = json_object_get(body, "seconds"),
                 *permanent = json_object_get(body, "permanent");
    *ms = 0;
    if (json_is_null(seconds) || json_is_false(permanent)) {
        *kind = TESSERA_EXPIRY_POLICY;
    } else if (json_is_true(permanent)) {
        *kind = TESSERA_EXPIRY_PERSISTENT;
    } else if (json_is_integer(seconds) && json_integer_value(seconds) == 0) {
        *kind = TESSERA_EXPIRY_BROWSER_SESSION;
    } else if (json_is_integer(seconds) && json_integer_value(seconds) > 0) {
        *kind = TESSERA_EXPIRY_IDLE;
        *ms = (uint64_t)json_integer_value(seconds) * 1000;
    } else {
        *kind = TESSERA_EXPIRY_POLICY;
    }
}

/* data[key].append(item) in place; [item] if absent. Steals `item`. */
static void append(json_t *data, const char *key, json_t *item) {
    json_t *list = json_object_get(data, key);
    if (json_is_array(list))
        json_array_append_new(list, item);
    else
        json_object_set_new(data, key, json_pack("[o]", item));
}

static const char *text_of(const json_t *body, const char *key) {
    const char *s = json_string_value(json_object_get(body, key));
    return s ? s : "";
}

/* Runs the route; returns 0 if `path` is not one of the reference app's. */
static int reference_app(tessera_request *req, const char *method, const char *path,
                         const json_t *body, struct reply *r) {
    static const char *const ROUTES[] = {"/read",   "/set",       "/delete", "/append",
                                         "/flash",  "/flashes",   "/login",  "/logout",
                                         "/regenerate", "/expiry", "/csrf",  "/protected",
                                         "/error",  "/early",     "/stream"};
    int known = 0;
    for (size_t i = 0; i < sizeof ROUTES / sizeof ROUTES[0]; i++)
        known |= strcmp(path, ROUTES[i]) == 0;
    if (!known) return 0;
    json_t *value = json_object_get(body, "value");
    json_t *data = load_data(req);
    json_t *answer = NULL;
    int expiry_chosen = 0;
    tessera_status st = TESSERA_STATUS_OK;
    r->status = MHD_HTTP_OK;

    if (strcmp(path, "/set") == 0) {
        json_object_set(data, text_of(body, "key"), value ? value : json_null());
    } else if (strcmp(path, "/delete") == 0) {
        json_object_del(data, text_of(body, "key"));
    } else if (strcmp(path, "/append") == 0) {
        append(data, text_of(body, "key"), json_incref(value ? value : json_null()));
    } else if (strcmp(path, "/flash") == 0) {
        append(data, FLASHES, json_pack("[ss]", text_of(body, "category"), text_of(body, "message")));
    } else if (strcmp(path, "/flashes") == 0) {
        json_t *shown = json_incref(json_object_get(data, FLASHES));
        json_object_del(data, FLASHES);
        answer = json_pack("{s:o}", "flashes", shown ? shown : json_array());
    } else if (strcmp(path, "/login") == 0) {
        /* How strongly the user signed in (step-up): level and amr when given. */
        json_t *level = json_object_get(body, "level"), *amr = json_object_get(body, "amr");
        char *amr_text = amr != NULL ? json_dumps(amr, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
        st = level != NULL || amr != NULL
                 ? tessera_request_login_with(req, manager, text_of(body, "user"),
                                              json_is_integer(level)
                                                  ? (int)json_integer_value(level)
                                                  : level != NULL ? -1 : 1,
                                              amr_text)
                 : tessera_request_login(req, manager, text_of(body, "user"));
        free(amr_text);
        if (st == TESSERA_STATUS_OK) {
            json_decref(data);
            data = load_data(req);
        }
    } else if (strcmp(path, "/logout") == 0) {
        if ((st = tessera_request_logout(req, manager, NULL)) == TESSERA_STATUS_OK) {
            json_object_clear(data);
            if (json_object_get(body, "key") != NULL)
                json_object_set(data, text_of(body, "key"), value ? value : json_null());
        }
    } else if (strcmp(path, "/regenerate") == 0) {
        st = tessera_request_regenerate(req, manager, NULL);
    } else if (strcmp(path, "/expiry") == 0) {
        expiry_of(body, &r->expiry, &r->expiry_ms);
        if (r->expiry == TESSERA_EXPIRY_POLICY)
            json_object_del(data, EXPIRY);
        else
            json_object_set(data, EXPIRY, (json_t *)body);
        expiry_chosen = 1;
    } else if (strcmp(path, "/csrf") == 0) {
        char *csrf = NULL;
        if ((st = tessera_request_csrf_token(req, manager, &csrf)) == TESSERA_STATUS_OK)
            answer = json_pack("{s:s}", "csrf", csrf);
        tessera_string_free(csrf);
    } else if (strcmp(path, "/protected") == 0) {
        tessera_csrf verdict = TESSERA_CSRF_INVALID;
        tessera_request_csrf(req, &verdict);
        int refused = verdict == TESSERA_CSRF_INVALID;
        r->status = refused ? MHD_HTTP_FORBIDDEN : MHD_HTTP_OK;
        answer = json_pack("{s:b}", "ok", !refused);
    } else if (strcmp(path, "/error") == 0 || strcmp(path, "/early") == 0 ||
               strcmp(path, "/stream") == 0) {
        /* The user change goes to finish, which performs it unless the response is an error. */
        const char *login = json_string_value(json_object_get(body, "login"));
        if (login != NULL) {
            r->auth = TESSERA_AUTH_LOGGED_IN;
            snprintf(r->user, sizeof r->user, "%s", login);
        } else if (json_object_get(body, "logout") != NULL) {
            r->auth = TESSERA_AUTH_LOGGED_OUT;
        } else if (json_object_get(body, "key") != NULL) {
            json_object_set(data, text_of(body, "key"), value ? value : json_null());
        }
        int error = strcmp(path, "/error") == 0;
        r->status = error ? MHD_HTTP_INTERNAL_SERVER_ERROR : MHD_HTTP_OK;
        r->stream = strcmp(path, "/stream") == 0;
        answer = json_pack("{s:b}", "ok", !error);
    } /* else /read */

    if (st != TESSERA_STATUS_OK) {
        json_decref(data);
        json_decref(answer);
        reply_error(r, st); /* finished as an error response if it is one */
        return 1;
    }
    if (!expiry_chosen && json_object_get(data, EXPIRY) != NULL)
        expiry_of(json_object_get(data, EXPIRY), &r->expiry, &r->expiry_ms);
    r->expiry_changed = expiry_chosen;
    if (answer == NULL) {
        json_t *visible = json_object();
        const char *key;
        json_t *v;
        json_object_foreach(data, key, v) {
            if (key[0] != '_') json_object_set(visible, key, v);
        }
        const char *user = request_user(req);
        answer = json_pack("{s:s?,s:o}", "user", user, "data", visible);
    }
    unsigned status = r->status;
    reply_json(r, status, answer);
    if (strcmp(method, "HEAD") == 0) {
        free(r->body);
        r->body = strdup("");
    }
    r->data = data;
    return 1;
}

/* ---- test controls (test mode only) --------------------------------------------------- */

/* Requests held between the app and finish (X-Tessera-Test-Hold: NAME), so that a test can run
 * other requests meanwhile and then let it finish: a gate the test opens, never a timer. */
#define HELD_MAX 16
static struct {
    pthread_mutex_t lock;
    pthread_cond_t changed;
    struct {
        char name[64];
        int waiting, released;
    } slot[HELD_MAX];
} held = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, {{{0}, 0, 0}}};

/* Wait on the condition for at most 30 s (for /__held: a failure guard, never what orders
 * events; its caller answers 504 when it runs out). */
static int wait_changed(void) {
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 30;
    return pthread_cond_timedwait(&held.changed, &held.lock, &until) != ETIMEDOUT;
}

/* Called by a held request: announce it has reached the gate, then wait until released. */
static void hold_here(const char *name) {
    pthread_mutex_lock(&held.lock);
    int s = -1;
    for (int i = 0; i < HELD_MAX && s < 0; i++)
        if (!held.slot[i].waiting) s = i;
    if (s >= 0) {
        snprintf(held.slot[s].name, sizeof held.slot[s].name, "%s", name);
        held.slot[s].waiting = 1;
        held.slot[s].released = 0;
        pthread_cond_broadcast(&held.changed);
        /* No time limit: only the test (or the shutdown) opens the gate, so no timer can let
         * the request finish before the steps the test runs meanwhile. */
        while (!held.slot[s].released) pthread_cond_wait(&held.changed, &held.lock);
        held.slot[s].waiting = 0;
        pthread_cond_broadcast(&held.changed);
    }
    pthread_mutex_unlock(&held.lock);
}

static int find_held(const char *name) {
    for (int i = 0; i < HELD_MAX; i++)
        if (held.slot[i].waiting && !held.slot[i].released && strcmp(held.slot[i].name, name) == 0)
            return i;
    return -1;
}

/* The /__ paths: 1 if handled (in *r), 0 if `path` is not one. */
static int test_control(const char *path, const char *raw_body, struct reply *r) {
    if (strncmp(path, "/__", 3) != 0) return 0;
    if (!settings.test_mode) {
        reply_text(r, MHD_HTTP_NOT_FOUND, "text/plain", "not found\n");
        return 1;
    }
    json_t *body = json_loads(raw_body ? raw_body : "{}", 0, NULL);
    const char *name = json_string_value(json_object_get(body, "name"));
    if (strcmp(path, "/__advance") == 0) {
        json_int_t ms = json_integer_value(json_object_get(body, "ms"));
        pthread_rwlock_rdlock(&state_lock);
        tessera_status st = tessera_clock_advance(test_clock, (uint64_t)(ms > 0 ? ms : 0));
        pthread_rwlock_unlock(&state_lock);
        reply_json(r, st == TESSERA_STATUS_OK ? 200 : 500, json_pack("{s:b}", "ok", st == 0));
    } else if (strcmp(path, "/__store_len") == 0) {
        size_t len = 0;
        pthread_rwlock_rdlock(&state_lock);
        tessera_status st = tessera_manager_store_len(manager, &len);
        pthread_rwlock_unlock(&state_lock);
        if (st == TESSERA_STATUS_OK)
            reply_json(r, 200, json_pack("{s:I}", "len", (json_int_t)len));
        else
            reply_error(r, st);
    } else if (strcmp(path, "/__reset") == 0) {
        /* Start afresh: a new manager from these options (JSON object), a new clock. */
        char why[512] = "";
        tessera_clock *clock = NULL;
        tessera_manager *fresh = make_manager(raw_body ? raw_body : "{}", &clock, why, sizeof why);
        if (fresh == NULL) {
            reply_json(r, 400, json_pack("{s:s}", "error", why));
        } else {
            pthread_rwlock_wrlock(&state_lock);
            tessera_manager *old = manager;
            tessera_clock *old_clock = test_clock;
            manager = fresh;
            test_clock = clock;
            pthread_rwlock_unlock(&state_lock);
            tessera_manager_free(old);
            tessera_clock_free(old_clock);
            reply_json(r, 200, json_pack("{s:b}", "ok", 1));
        }
    } else if (strcmp(path, "/__events") == 0) {
        /* The events since the last call, oldest first; the list starts afresh. */
        pthread_mutex_lock(&recorded.lock);
        json_t *list = recorded.list;
        recorded.list = json_array();
        pthread_mutex_unlock(&recorded.lock);
        reply_json(r, 200, json_pack("{s:o}", "events", list ? list : json_array()));
    } else if ((strcmp(path, "/__revoke") == 0 || strcmp(path, "/__unbind") == 0) &&
               json_string_value(json_object_get(body, "id")) != NULL) {
        const char *id = json_string_value(json_object_get(body, "id"));
        bool ended = false;
        pthread_rwlock_rdlock(&state_lock);
        tessera_status st = strcmp(path, "/__revoke") == 0
                                ? tessera_manager_revoke(manager, id, &ended)
                                : tessera_manager_unbind(manager, id, &ended);
        pthread_rwlock_unlock(&state_lock);
        if (st == TESSERA_STATUS_OK)
            reply_json(r, 200, json_pack("{s:b}", "ended", ended));
        else
            reply_error(r, st);
    } else if (strcmp(path, "/__list") == 0 && json_string_value(json_object_get(body, "user"))) {
        char *list = NULL;
        pthread_rwlock_rdlock(&state_lock);
        tessera_status st =
            tessera_manager_list_user(manager, json_string_value(json_object_get(body, "user")),
                                      &list);
        pthread_rwlock_unlock(&state_lock);
        if (st == TESSERA_STATUS_OK)
            reply_json(r, 200, json_pack("{s:o}", "sessions", json_loads(list, 0, NULL)));
        else
            reply_error(r, st);
        tessera_string_free(list);
    } else if (strcmp(path, "/__held") == 0 && name != NULL) {
        /* Wait until the request held as `name` has reached its gate. */
        pthread_mutex_lock(&held.lock);
        int ok = 1;
        while (find_held(name) < 0 && (ok = wait_changed())) {
        }
        pthread_mutex_unlock(&held.lock);
        reply_json(r, ok ? 200 : 504, json_pack("{s:b}", "ok", ok));
    } else if (strcmp(path, "/__release") == 0 && name != NULL) {
        pthread_mutex_lock(&held.lock);
        int s = find_held(name);
        if (s >= 0) held.slot[s].released = 1;
        pthread_cond_broadcast(&held.changed);
        pthread_mutex_unlock(&held.lock);
        reply_json(r, s >= 0 ? 200 : 404, json_pack("{s:b}", "ok", s >= 0));
    } else {
        reply_text(r, MHD_HTTP_NOT_FOUND, "text/plain", "not found\n");
    }
    json_decref(body);
    return 1;
}

/* ---- the demo site (--demo) ----------------------------------------------------------- */

#include "demo_site.h"

/* ---- responses ------------------------------------------------------------------------ */

/* /stream: the body in chunks of at most 8 bytes, so it goes out chunked, in several writes. */
struct chunks {
    char *body;
    size_t len;
};

static ssize_t next_chunk(void *cls, uint64_t pos, char *buf, size_t max) {
    struct chunks *c = cls;
    if (pos >= c->len) return MHD_CONTENT_READER_END_OF_STREAM;
    size_t n = c->len - (size_t)pos;
    if (n > 8) n = 8;
    if (n > max) n = max;
    memcpy(buf, c->body + pos, n);
    return (ssize_t)n;
}

static void free_chunks(void *cls) {
    struct chunks *c = cls;
    free(c->body);
    free(c);
}

/* Queue the app's reply with the headers finish gave (`resp` may be NULL: none). */
static enum MHD_Result send_reply(struct MHD_Connection *conn, struct reply *r,
                                  const tessera_response *resp) {
    const char *body = r->body ? r->body : "";
    struct MHD_Response *out = NULL;
    struct chunks *c = NULL;
    if (r->stream && (c = calloc(1, sizeof *c)) != NULL && (c->body = strdup(body)) != NULL) {
        c->len = strlen(body);
        out = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 64, next_chunk, c, free_chunks);
    } else {
        if (c != NULL) free(c);
        out = MHD_create_response_from_buffer(strlen(body), (void *)body, MHD_RESPMEM_MUST_COPY);
    }
    if (out == NULL) return MHD_NO;
    if (r->content_type) MHD_add_response_header(out, "Content-Type", r->content_type);
    if (r->location) MHD_add_response_header(out, "Location", r->location);
    /* The session's headers, exactly as Tessera decided them. */
    size_t count = 0;
    bool no_store = false;
    if (resp != NULL && tessera_response_header_count(resp, &count) == TESSERA_STATUS_OK)
        for (size_t i = 0; i < count; i++) {
            const char *name = NULL, *value = NULL;
            if (tessera_response_header(resp, i, &name, &value) != TESSERA_STATUS_OK) continue;
            MHD_add_response_header(out, name, value);
            no_store |= strcasecmp(name, TESSERA_CACHE_CONTROL_NAME) == 0;
        }
    if (r->personal && !no_store)
        MHD_add_response_header(out, TESSERA_CACHE_CONTROL_NAME, TESSERA_CACHE_CONTROL_VALUE);
    enum MHD_Result ret = MHD_queue_response(conn, r->status, out);
    MHD_destroy_response(out);
    return ret;
}

/* ---- device-bound sessions and step-up ------------------------------------------------ */

#include "device_binding.h"

/* ---- one request: begin -> the app -> finish ------------------------------------------ */

static enum MHD_Result serve(struct MHD_Connection *conn, const char *url, const char *method,
                             struct upload *up) {
    struct reply r = {.status = 200, .auth = TESSERA_AUTH_UNCHANGED};
    enum MHD_Result ret;
    if (test_control(url, up->body, &r)) {
        ret = send_reply(conn, &r, NULL);
        free(r.body);
        return ret;
    }
    if (demo_outside(method, url, &r)) {
        ret = send_reply(conn, &r, NULL);
        free(r.body);
        return ret;
    }
    if (up->too_big) {
        reply_text(&r, MHD_HTTP_CONTENT_TOO_LARGE, "text/plain", "request body too large\n");
        ret = send_reply(conn, &r, NULL);
        free(r.body);
        return ret;
    }

    struct cookies cookies = {NULL, 0, 0};
    MHD_get_connection_values(conn, MHD_HEADER_KIND, collect_cookie, &cookies);
    const char *proto = header(conn, "X-Forwarded-Proto");
    bool https = (settings.trust_proxy && proto != NULL && strcasecmp(proto, "https") == 0) ||
                 demo_https(conn); /* --demo: a loopback peer counts as HTTPS (demo_site.h) */

    /* The DBSC endpoints answer on their own, before (and instead of) the app's session. */
    if (!cookies.out_of_memory && dbsc_endpoint(conn, url, method, cookies.text, https, &ret)) {
        if (cookies.text != NULL) wipe(cookies.text, cookies.len);
        free(cookies.text);
        return ret;
    }

    pthread_rwlock_rdlock(&state_lock);
    tessera_request *req = NULL;
    tessera_status st = cookies.out_of_memory
                            ? TESSERA_STATUS_INTERNAL
                            : tessera_request_begin(manager, cookies.text, https, method,
                                                    header(conn, "User-Agent"),
                                                    header(conn, "X-CSRF-Token"), &req);
    /* The demo explains a refused cookie by its public id; the token goes no further. */
    char refused[TESSERA_ID_BUFFER_LEN] = "";
    tessera_reason reason = TESSERA_REASON_NONE;
    if (demo.on && st == TESSERA_STATUS_OK && cookies.text != NULL &&
        tessera_request_reason(req, &reason) == TESSERA_STATUS_OK && reason != TESSERA_REASON_NONE)
        refused_id(cookies.text, refused);
    if (cookies.text != NULL) wipe(cookies.text, cookies.len); /* it held the token */
    free(cookies.text);
    if (st != TESSERA_STATUS_OK) { /* fail closed: not even anonymous */
        reply_error(&r, st);
        pthread_rwlock_unlock(&state_lock);
        ret = send_reply(conn, &r, NULL);
        free(r.body);
        return ret;
    }

    /* The app. */
    const char *type = header(conn, "Content-Type");
    int json_body = type != NULL && strncasecmp(type, "application/json", 16) == 0;
    int get = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
    int post = strcmp(method, "POST") == 0;
    json_t *body = json_body && up->body ? json_loads(up->body, 0, NULL) : NULL;
    if (settings.test_mode && (json_body || !post) && reference_app(req, method, url, body, &r)) {
        /* done */
    } else if (demo.on && demo_app(conn, req, method, url, up->body, refused, &r)) {
        /* done */
    } else if (device_binding_app(conn, req, method, url, up->body, body, &r)) {
        /* done */
    } else if (get && strcmp(url, "/") == 0) {
        page(req, &r);
    } else if (get && strcmp(url, "/me") == 0) {
        me(req, &r);
    } else if (post && strcmp(url, "/login") == 0) {
        password_login(req, up->body ? up->body : "", &r);
    } else if (post && strcmp(url, "/logout") == 0) {
        form_logout(req, up->body ? up->body : "", &r, 0);
    } else if (post && strcmp(url, "/logout-everywhere") == 0) {
        form_logout(req, up->body ? up->body : "", &r, 1);
    } else if (!get && !post) {
        reply_text(&r, MHD_HTTP_METHOD_NOT_ALLOWED, "text/plain", "method not allowed\n");
    } else {
        reply_text(&r, MHD_HTTP_NOT_FOUND, "text/plain", "not found\n");
    }
    json_decref(body);

    const char *hold = settings.test_mode ? header(conn, "X-Tessera-Test-Hold") : NULL;
    if (hold != NULL) hold_here(hold);

    char *data = r.data ? json_dumps(r.data, JSON_COMPACT) : NULL;
    tessera_response *resp = NULL;
    st = tessera_request_finish(req, manager, data, r.auth, r.user[0] ? r.user : NULL, false,
                                r.expiry, r.expiry_ms, r.expiry_changed, r.status >= 500, &resp);
    pthread_rwlock_unlock(&state_lock);
    if (data != NULL) wipe(data, strlen(data));
    free(data);
    json_decref(r.data);
    if (st != TESSERA_STATUS_OK) {
        /* The app's changes were not (all) made: an error response, still with the headers
         * Tessera gave, if any (a token rotated at begin must reach the client). */
        r.stream = 0;
        r.location = NULL;
        reply_error(&r, st);
    }
    ret = send_reply(conn, &r, resp);
    tessera_response_free(resp);
    free(r.body);
    return ret;
}

/* ---- libmicrohttpd plumbing ----------------------------------------------------------- */

static enum MHD_Result handle(void *cls, struct MHD_Connection *conn, const char *url,
                              const char *method, const char *version, const char *upload_data,
                              size_t *upload_data_size, void **con_cls) {
    (void)cls, (void)version;
    if (*con_cls == NULL) { /* first call: headers only */
        struct upload *up = calloc(1, sizeof *up);
        if (up == NULL) return MHD_NO;
        *con_cls = up;
        return MHD_YES;
    }
    struct upload *up = *con_cls;
    if (*upload_data_size != 0) { /* a piece of the body */
        append_body(up, upload_data, *upload_data_size);
        *upload_data_size = 0;
        return MHD_YES;
    }
    return serve(conn, url, method, up);
}

static void completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                      enum MHD_RequestTerminationCode toe) {
    struct upload *up = *con_cls;
    (void)cls, (void)conn, (void)toe;
    if (up == NULL) return;
    if (up->body != NULL) {
        wipe(up->body, up->cap); /* may hold a password */
        free(up->body);
    }
    free(up);
    *con_cls = NULL;
}

static volatile sig_atomic_t stop;

static void on_signal(int sig) {
    (void)sig;
    stop = 1;
}

static int usage(const char *argv0) {
    fprintf(stderr,
            "usage: %s [--store URL] [--options JSON] [--demo DEMO_JSON] [--trust-proxy] [--test] "
            "[PORT]\n", argv0);
    return 2;
}

int main(int argc, char **argv) {
    unsigned port = 0;
    const char *demo_path = NULL;
    settings.options = DEFAULT_OPTIONS;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--test") == 0) {
            settings.test_mode = 1;
        } else if (strcmp(argv[i], "--trust-proxy") == 0) {
            settings.trust_proxy = 1;
        } else if (strcmp(argv[i], "--store") == 0 && i + 1 < argc) {
            settings.store = argv[++i];
        } else if (strcmp(argv[i], "--options") == 0 && i + 1 < argc) {
            settings.options = argv[++i];
        } else if (strcmp(argv[i], "--demo") == 0 && i + 1 < argc) {
            demo_path = argv[++i];
        } else if (argv[i][0] != '-' && strtoul(argv[i], NULL, 10) <= 65535) {
            port = (unsigned)strtoul(argv[i], NULL, 10);
        } else {
            return usage(argv[0]);
        }
    }
    if (strcmp(tessera_version(), TESSERA_VERSION) != 0) {
        fprintf(stderr, "built against tessera %s but running %s\n", TESSERA_VERSION,
                tessera_version());
        return 1;
    }
    char why[512] = "";
    if (demo_path != NULL && !demo_load(demo_path, why, sizeof why)) { /* its options win */
        fprintf(stderr, "demo: %s\n", why);
        demo_free();
        return 1;
    }
    manager = make_manager(settings.options, &test_clock, why, sizeof why);
    if (manager == NULL) {
        fprintf(stderr, "tessera: %s\n", why);
        demo_free();
        return 1;
    }
    if (settings.test_mode) {
        fprintf(stderr, "TEST MODE: manual clock, password-less /login, /__ controls\n");
        recorded.list = json_array();
    }

    /* Block the signals while starting, then wait for one with sigsuspend (no lost wake-up). */
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigset_t block, old;
    sigemptyset(&block);
    sigaddset(&block, SIGINT);
    sigaddset(&block, SIGTERM);
    sigprocmask(SIG_BLOCK, &block, &old); /* the server's threads inherit the mask */

    struct sockaddr_in addr;
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_port = htons((uint16_t)port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    /* A thread per connection: Tessera's calls block on a networked store (one round trip), and
     * a blocked call must not stall other connections. */
    struct MHD_Daemon *daemon = MHD_start_daemon(
        MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG, 0,
        NULL, NULL, handle, NULL, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
        MHD_OPTION_NOTIFY_COMPLETED, completed, NULL, MHD_OPTION_CONNECTION_TIMEOUT, 60u,
        MHD_OPTION_END);
    if (daemon == NULL) {
        fprintf(stderr, "cannot listen on 127.0.0.1:%u\n", port);
        tessera_manager_free(manager);
        tessera_clock_free(test_clock);
        demo_free();
        return 1;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(daemon, MHD_DAEMON_INFO_BIND_PORT);
    printf("listening on http://127.0.0.1:%u\n", info ? (unsigned)info->port : port);
    fflush(stdout);

    while (!stop) sigsuspend(&old);

    /* Open every gate, so that no held request keeps the shutdown waiting. */
    pthread_mutex_lock(&held.lock);
    for (int i = 0; i < HELD_MAX; i++) held.slot[i].released = 1;
    pthread_cond_broadcast(&held.changed);
    pthread_mutex_unlock(&held.lock);
    MHD_stop_daemon(daemon);
    tessera_manager_free(manager);
    tessera_clock_free(test_clock);
    demo_free();
    json_decref(recorded.list);
    fprintf(stderr, "stopped\n");
    return 0;
}
