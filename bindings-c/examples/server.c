/*
 * server.c: a small HTTP service in C on libmicrohttpd, with Tessera sessions.
 *
 *   GET  /                    a page: the sign-in form, or who you are and the sign-out forms
 *   POST /login               form fields user, password: sign in (303 to /), or 401
 *   GET  /me                  protected: 200 "user=...\ncsrf=...\n", or 401
 *   POST /logout              form field csrf: end this session
 *   POST /logout-everywhere   form field csrf: end every session of this user
 *
 * The session token travels only in the session cookie, read from the Cookie header and written
 * with Set-Cookie values built by Tessera; every response carries Cache-Control: no-store. POSTs
 * that change a signed-in session need its CSRF token.
 *
 * It listens on plain HTTP on 127.0.0.1, so the cookie is configured without the __Host- prefix
 * and without Secure (a browser would never send a Secure cookie over http://). Behind TLS, keep
 * Tessera's defaults (__Host-session, Secure) and pass https = true. See README.md.
 *
 * Usage: server [PORT]   (0 or absent: a free port). Prints "listening on http://127.0.0.1:PORT"
 * and runs until SIGINT or SIGTERM, then shuts down cleanly.
 */
#define _POSIX_C_SOURCE 200809L

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "tessera.h"

/* The session options: plain HTTP on loopback, so no __Host- prefix and no Secure flag. */
static const char *OPTIONS = "{\"cookie_name\": \"session\", \"cookie_secure\": false}";

/* A tiny built-in user table. A real service stores password hashes (argon2, scrypt), never
 * passwords. */
static const struct {
    const char *user, *password;
} USERS[] = {{"alice", "wonderland"}, {"bob", "builder"}};

#define FIELD_MAX 256

/* One request: its form fields, filled by the POST processor. */
struct request {
    struct MHD_PostProcessor *post;
    char user[FIELD_MAX], password[FIELD_MAX], csrf[FIELD_MAX];
    int too_long;
};

static tessera_manager *manager;

/* ---- small helpers -------------------------------------------------------------------- */

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

static void wipe(void *p, size_t n) {
    volatile unsigned char *v = p;
    while (n--) *v++ = 0;
}

/* ---- the Cookie header, and nothing else ---------------------------------------------- */

struct cookies {
    char text[8192];
    int overflow;
};

/* Join every Cookie header with "; " (HTTP/2 proxies may split it into several). */
static enum MHD_Result collect_cookie(void *cls, enum MHD_ValueKind kind, const char *key,
                                      const char *value) {
    struct cookies *c = cls;
    (void)kind;
    if (key == NULL || value == NULL || strcasecmp(key, "Cookie") != 0) return MHD_YES;
    size_t used = strlen(c->text), need = strlen(value) + (used ? 2 : 0);
    if (used + need >= sizeof c->text) {
        c->overflow = 1;
        return MHD_NO;
    }
    if (used) strcat(c->text, "; ");
    strcat(c->text, value);
    return MHD_YES;
}

struct auth {
    tessera_session *session; /* NULL: anonymous */
    char token[TESSERA_TOKEN_BUFFER_LEN];
    int had_cookie; /* a session cookie was sent (so a rejected one should be cleared) */
};

/* Find and validate the session cookie. Any failure means anonymous: Tessera fails closed. */
static void authenticate(struct MHD_Connection *conn, struct auth *auth) {
    struct cookies cookies = {{0}, 0};
    memset(auth, 0, sizeof *auth);
    MHD_get_connection_values(conn, MHD_HEADER_KIND, collect_cookie, &cookies);
    if (cookies.overflow) {
        auth->had_cookie = 1;
        return;
    }
    tessera_cookie found = TESSERA_COOKIE_ABSENT;
    if (tessera_manager_cookie_token(manager, cookies.text, auth->token, sizeof auth->token,
                                     &found) != TESSERA_STATUS_OK ||
        found == TESSERA_COOKIE_ABSENT)
        return;
    auth->had_cookie = 1;
    if (found == TESSERA_COOKIE_AMBIGUOUS) return; /* cookie tossing: no session at all */
    const char *agent = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "User-Agent");
    tessera_reason reason = TESSERA_REASON_NONE;
    tessera_status st =
        tessera_manager_validate(manager, auth->token, false, agent, &auth->session, &reason);
    if (st == TESSERA_STATUS_OK) {
        /* After a rotation the token the browser must keep is the new one. */
        bool rotated = false;
        if (tessera_session_has_new_token(auth->session, &rotated) == TESSERA_STATUS_OK && rotated)
            tessera_session_new_token(auth->session, auth->token, sizeof auth->token);
    } else if (st != TESSERA_STATUS_REJECTED) {
        fprintf(stderr, "validate failed: %s\n", tessera_last_error()); /* never has a token */
    }
}

static void release(struct auth *auth) {
    tessera_session_free(auth->session);
    wipe(auth->token, sizeof auth->token);
}

/* ---- responses ------------------------------------------------------------------------ */

/* Queue a response. `cookie` is a Set-Cookie value from Tessera (or NULL); it is freed here. */
static enum MHD_Result respond(struct MHD_Connection *conn, unsigned int status, const char *type,
                               const char *body, char *cookie, const char *location) {
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(strlen(body), (void *)body, MHD_RESPMEM_MUST_COPY);
    if (resp == NULL) {
        tessera_string_free(cookie);
        return MHD_NO;
    }
    MHD_add_response_header(resp, "Content-Type", type);
    /* Pages behind a session are personal, and this one may set or clear the cookie. */
    MHD_add_response_header(resp, TESSERA_CACHE_CONTROL_NAME, TESSERA_CACHE_CONTROL_VALUE);
    if (cookie != NULL) MHD_add_response_header(resp, "Set-Cookie", cookie);
    if (location != NULL) MHD_add_response_header(resp, "Location", location);
    tessera_string_free(cookie); /* zeroes it: it held the token */
    enum MHD_Result ret = MHD_queue_response(conn, status, resp);
    MHD_destroy_response(resp);
    return ret;
}

/* The Set-Cookie value a response must carry for this request: the new token after a rotation,
 * a clearing cookie when a cookie was sent but gave no session, or none. */
static char *cookie_for(const struct auth *auth) {
    char *cookie = NULL;
    bool rotated = false;
    if (auth->session != NULL) {
        if (tessera_session_has_new_token(auth->session, &rotated) == TESSERA_STATUS_OK && rotated)
            tessera_manager_set_cookie_for_session(manager, auth->session, &cookie);
    } else if (auth->had_cookie) {
        tessera_manager_clear_cookie(manager, &cookie);
    }
    return cookie;
}

static char *clear_cookie(void) {
    char *cookie = NULL;
    tessera_manager_clear_cookie(manager, &cookie);
    return cookie;
}

static enum MHD_Result unauthorized(struct MHD_Connection *conn, const struct auth *auth) {
    return respond(conn, MHD_HTTP_UNAUTHORIZED, "text/plain", "not signed in\n", cookie_for(auth),
                   NULL);
}

/* The signed-in session's CSRF token must come with every state-changing POST. */
static int csrf_ok(const struct auth *auth, const struct request *req) {
    bool valid = false;
    return tessera_session_verify_csrf(auth->session, req->csrf, &valid) == TESSERA_STATUS_OK &&
           valid;
}

/* ---- routes --------------------------------------------------------------------------- */

static enum MHD_Result page(struct MHD_Connection *conn) {
    struct auth auth;
    authenticate(conn, &auth);
    char body[2048];
    const char *user = NULL;
    char *csrf = NULL;
    if (auth.session != NULL && tessera_session_user(auth.session, &user) == TESSERA_STATUS_OK &&
        user != NULL && tessera_session_csrf_token(auth.session, &csrf) == TESSERA_STATUS_OK) {
        snprintf(body, sizeof body,
                 "<!doctype html><title>Tessera example</title>"
                 "<p>Signed in as <b>%s</b>. <a href=\"/me\">/me</a></p>"
                 "<form method=post action=/logout><input type=hidden name=csrf value=\"%s\">"
                 "<button>Sign out</button></form>"
                 "<form method=post action=/logout-everywhere>"
                 "<input type=hidden name=csrf value=\"%s\"><button>Sign out everywhere</button>"
                 "</form>",
                 user, csrf, csrf); /* user names come from the built-in table: no escaping */
    } else {
        snprintf(body, sizeof body,
                 "<!doctype html><title>Tessera example</title>"
                 "<form method=post action=/login><input name=user placeholder=user>"
                 "<input name=password type=password placeholder=password>"
                 "<button>Sign in</button></form>");
    }
    tessera_string_free(csrf);
    enum MHD_Result ret = respond(conn, MHD_HTTP_OK, "text/html", body, cookie_for(&auth), NULL);
    release(&auth);
    return ret;
}

static enum MHD_Result me(struct MHD_Connection *conn) {
    struct auth auth;
    authenticate(conn, &auth);
    const char *user = NULL;
    char *csrf = NULL;
    enum MHD_Result ret;
    if (auth.session == NULL || tessera_session_user(auth.session, &user) != TESSERA_STATUS_OK ||
        user == NULL) {
        ret = unauthorized(conn, &auth);
    } else if (tessera_session_csrf_token(auth.session, &csrf) != TESSERA_STATUS_OK) {
        ret = respond(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "text/plain", "error\n", NULL, NULL);
    } else {
        char body[512];
        snprintf(body, sizeof body, "user=%s\ncsrf=%s\n", user, csrf);
        ret = respond(conn, MHD_HTTP_OK, "text/plain", body, cookie_for(&auth), NULL);
        wipe(body, sizeof body);
    }
    tessera_string_free(csrf);
    release(&auth);
    return ret;
}

static enum MHD_Result login(struct MHD_Connection *conn, struct request *req) {
    const char *user = req->too_long ? NULL : check_password(req->user, req->password);
    wipe(req->password, sizeof req->password);
    if (user == NULL)
        return respond(conn, MHD_HTTP_UNAUTHORIZED, "text/plain", "wrong user or password\n",
                       NULL, NULL);
    /* Sign-in is a privilege change: the visitor's session (if any) gets a new token and the
     * old one dies at once, so a token planted before sign-in is worthless after it. */
    struct auth auth;
    authenticate(conn, &auth);
    const char *agent = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "User-Agent");
    tessera_session *session = NULL;
    char *cookie = NULL;
    enum MHD_Result ret;
    if (tessera_manager_login(manager, auth.session ? auth.token : NULL, user, false, agent,
                              &session) != TESSERA_STATUS_OK ||
        tessera_manager_set_cookie_for_session(manager, session, &cookie) != TESSERA_STATUS_OK) {
        fprintf(stderr, "login failed: %s\n", tessera_last_error());
        ret = respond(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "text/plain", "error\n", NULL, NULL);
    } else {
        ret = respond(conn, MHD_HTTP_SEE_OTHER, "text/plain", "signed in\n", cookie, "/");
    }
    tessera_session_free(session);
    release(&auth);
    return ret;
}

static enum MHD_Result logout(struct MHD_Connection *conn, struct request *req, int everywhere) {
    struct auth auth;
    authenticate(conn, &auth);
    enum MHD_Result ret;
    const char *user = NULL;
    if (auth.session == NULL) {
        ret = unauthorized(conn, &auth);
    } else if (!csrf_ok(&auth, req)) {
        ret = respond(conn, MHD_HTTP_FORBIDDEN, "text/plain", "missing or wrong CSRF token\n",
                      cookie_for(&auth), NULL);
    } else if (!everywhere) {
        bool ended = false;
        if (tessera_manager_logout(manager, auth.token, &ended) != TESSERA_STATUS_OK)
            fprintf(stderr, "logout failed: %s\n", tessera_last_error());
        ret = respond(conn, MHD_HTTP_OK, "text/plain", "signed out\n", clear_cookie(), NULL);
    } else if (tessera_session_user(auth.session, &user) != TESSERA_STATUS_OK || user == NULL) {
        ret = unauthorized(conn, &auth);
    } else {
        size_t count = 0;
        char body[64];
        if (tessera_manager_revoke_user(manager, user, &count) != TESSERA_STATUS_OK)
            fprintf(stderr, "revoke_user failed: %s\n", tessera_last_error());
        snprintf(body, sizeof body, "signed out of %zu session(s)\n", count);
        ret = respond(conn, MHD_HTTP_OK, "text/plain", body, clear_cookie(), NULL);
    }
    release(&auth);
    return ret;
}

/* ---- libmicrohttpd plumbing ----------------------------------------------------------- */

static enum MHD_Result on_field(void *cls, enum MHD_ValueKind kind, const char *key,
                                const char *filename, const char *content_type,
                                const char *transfer_encoding, const char *data, uint64_t off,
                                size_t size) {
    struct request *req = cls;
    char *field = NULL;
    (void)kind, (void)filename, (void)content_type, (void)transfer_encoding;
    if (strcmp(key, "user") == 0)
        field = req->user;
    else if (strcmp(key, "password") == 0)
        field = req->password;
    else if (strcmp(key, "csrf") == 0)
        field = req->csrf;
    else
        return MHD_YES;
    if (off + size >= FIELD_MAX) {
        req->too_long = 1;
        return MHD_YES;
    }
    memcpy(field + off, data, size);
    field[off + size] = '\0';
    return MHD_YES;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *conn, const char *url,
                              const char *method, const char *version, const char *upload_data,
                              size_t *upload_data_size, void **con_cls) {
    (void)cls, (void)version;
    int post = strcmp(method, "POST") == 0;
    if (*con_cls == NULL) { /* first call: headers only */
        struct request *req = calloc(1, sizeof *req);
        if (req == NULL) return MHD_NO;
        if (post) req->post = MHD_create_post_processor(conn, 1024, on_field, req);
        *con_cls = req;
        return MHD_YES;
    }
    struct request *req = *con_cls;
    if (*upload_data_size != 0) { /* a piece of the body */
        if (req->post != NULL) MHD_post_process(req->post, upload_data, *upload_data_size);
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (!post && strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
        return respond(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "text/plain", "method not allowed\n",
                       NULL, NULL);
    if (!post && strcmp(url, "/") == 0) return page(conn);
    if (!post && strcmp(url, "/me") == 0) return me(conn);
    if (post && strcmp(url, "/login") == 0) return login(conn, req);
    if (post && strcmp(url, "/logout") == 0) return logout(conn, req, 0);
    if (post && strcmp(url, "/logout-everywhere") == 0) return logout(conn, req, 1);
    return respond(conn, MHD_HTTP_NOT_FOUND, "text/plain", "not found\n", NULL, NULL);
}

static void completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                      enum MHD_RequestTerminationCode toe) {
    struct request *req = *con_cls;
    (void)cls, (void)conn, (void)toe;
    if (req == NULL) return;
    if (req->post != NULL) MHD_destroy_post_processor(req->post);
    wipe(req, sizeof *req);
    free(req);
    *con_cls = NULL;
}

/* An audit log on stderr: ids and users, never tokens. */
static void on_event(void *user_data, const tessera_event *event) {
    const char *id = tessera_event_id(event), *user = tessera_event_user(event),
               *reason = tessera_event_reason(event);
    (void)user_data;
    fprintf(stderr, "event %s id=%.12s user=%s%s%s\n", tessera_event_kind(event),
            id ? id : "-", user ? user : "-", reason ? " reason=" : "", reason ? reason : "");
}

static volatile sig_atomic_t stop;

static void on_signal(int sig) {
    (void)sig;
    stop = 1;
}

int main(int argc, char **argv) {
    unsigned port = argc > 1 ? (unsigned)strtoul(argv[1], NULL, 10) : 0;
    if (port > 65535) {
        fprintf(stderr, "usage: %s [PORT]\n", argv[0]);
        return 2;
    }
    if (strcmp(tessera_version(), TESSERA_VERSION) != 0) {
        fprintf(stderr, "built against tessera %s but running %s\n", TESSERA_VERSION,
                tessera_version());
        return 1;
    }
    if (tessera_manager_new(OPTIONS, NULL, &manager) != TESSERA_STATUS_OK) {
        fprintf(stderr, "tessera: %s\n", tessera_last_error());
        return 1;
    }
    tessera_manager_add_listener(manager, on_event, NULL);

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
    struct MHD_Daemon *daemon = MHD_start_daemon(
        MHD_USE_AUTO_INTERNAL_THREAD | MHD_USE_ERROR_LOG, 0, NULL, NULL, handle, NULL,
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr, MHD_OPTION_THREAD_POOL_SIZE, 4u,
        MHD_OPTION_NOTIFY_COMPLETED, completed, NULL, MHD_OPTION_CONNECTION_TIMEOUT, 30u,
        MHD_OPTION_END);
    if (daemon == NULL) {
        fprintf(stderr, "cannot listen on 127.0.0.1:%u\n", port);
        tessera_manager_free(manager);
        return 1;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(daemon, MHD_DAEMON_INFO_BIND_PORT);
    printf("listening on http://127.0.0.1:%u\n", info ? (unsigned)info->port : port);
    fflush(stdout);

    while (!stop) sigsuspend(&old);

    MHD_stop_daemon(daemon);
    tessera_manager_free(manager);
    fprintf(stderr, "stopped\n");
    return 0;
}
