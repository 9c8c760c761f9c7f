/*
 * demo_site.h: the C side of `make demo` (server --demo DEMO_JSON), included once by server.c.
 * The example stays one translation unit (the C suite compiles server.c alone), and this part
 * stays apart from the example's own small app.
 *
 * With --demo the server is one of three demo servers (Flask, Express, C) on one session store:
 * it reads the configuration the three share (demo.json, written by demo/launch.py: the store,
 * the pepper, the timeouts), appends its lifecycle events to the shared events file, and serves
 * the same pages, forms and element ids as the Flask and Express sites:
 *
 *   GET  /                              start page: sign-in, the other sites, what to try
 *   POST /login                         form fields user, password, _csrf
 *   GET  /account                       who you are, your sessions (bound to a device key or
 *                                       not), live countdowns, this request's binding, when you
 *                                       last authenticated
 *   GET  /change-password               a form, behind require_recent (recent_ms, level 1): a
 *   POST /change-password               stale sign-in goes to /reauth?next=/change-password
 *   GET  /reauth?next=PATH              the password again (any the demo accepts at sign-in)
 *   POST /reauth                        form fields password, next, _csrf: re-authenticate
 *   POST /logout, /logout-others        sign out; sign out the other devices
 *   GET  /logout-everywhere             a confirmation page, which POSTs to the same path
 *   POST /sessions/ID/end               sign out one device
 *   GET  /admin, /admin/users/NAME/end  the administrator's page, a confirmation page
 *   POST /admin/users/NAME/end          end every session of NAME
 *   GET  /signed-out?why=CODE&site=S    why the last session ended
 *   GET  /demo/events, /demo/static/F   the events feed and the shared assets, answered before
 *                                       begin: polling the panel is not session activity
 *
 * Device-bound sessions are on ("dbsc": true in the shared options): the two DBSC endpoints are
 * server.c's (device_binding.h). A request from a loopback peer counts as HTTPS (demo_https):
 * Chromium treats loopback as a secure context, so sign-ins offer a binding over plain
 * http://127.0.0.1; any other peer stays plain HTTP.
 */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <unistd.h>

#define DEMO_SITE "c"
#define DEMO_SITE_NAME "C (libmicrohttpd)"
#define DEMO_EVENTS_SHOWN 50

/* The same three accounts as the Flask and Express demo sites. */
static const struct {
    const char *user, *password;
} DEMO_USERS[] = {{"alice", "alice-demo"}, {"bob", "bob-demo"}, {"admin", "admin-demo"}};

static struct {
    int on;
    json_t *config; /* demo.json */
    const char *events, *assets;
    char *options; /* the manager's options, JSON text */
    json_int_t idle_ms, absolute_ms, rotation_ms;
    json_int_t recent_ms; /* how recent a sign-in /change-password wants */
} demo;

/* device_binding.h (included after this file): the step-up guard and the `next` check. */
static const char *recent_required(struct MHD_Connection *conn, tessera_request *req,
                                   struct reply *r, const char *url, uint64_t max_age_ms,
                                   int level);
static const char *safe_next(const char *next);

/* Whether the peer is loopback (127.0.0.0/8, ::1, ::ffff:127.x): in demo mode such a request
 * counts as HTTPS (see the top of this file). */
static bool demo_https(struct MHD_Connection *conn) {
    if (!demo.on) return false;
    const union MHD_ConnectionInfo *info =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    const struct sockaddr *sa = info ? info->client_addr : NULL;
    if (sa == NULL) return false;
    if (sa->sa_family == AF_INET)
        return (ntohl(((const struct sockaddr_in *)(const void *)sa)->sin_addr.s_addr) >> 24) == 127;
    if (sa->sa_family == AF_INET6) {
        const struct in6_addr *a = &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr;
        return IN6_IS_ADDR_LOOPBACK(a) || (IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127);
    }
    return false;
}

/* The cause of the revocations the current thread is making (core calls listeners on the
 * calling thread), written into their events: "admin", "everywhere" or "device". */
static _Thread_local const char *demo_cause;

static const char *site_name(const char *site) {
    return strcmp(site, "flask") == 0     ? "Flask (Python)"
           : strcmp(site, "express") == 0 ? "Express (Node)"
                                          : DEMO_SITE_NAME;
}

/* ---- a growing string ----------------------------------------------------------------- */

struct sb {
    char *s;
    size_t len, cap;
};

static void sb_grow(struct sb *b, size_t more) {
    if (b->len + more + 1 <= b->cap) return;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + more + 1) cap *= 2;
    char *grown = realloc(b->s, cap);
    if (grown == NULL) abort(); /* a demo page: out of memory is not worth a partial answer */
    b->s = grown;
    b->cap = cap;
}

static void sb_add(struct sb *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_add(struct sb *b, const char *fmt, ...) {
    va_list ap;
    char probe[1];
    va_start(ap, fmt);
    int n = vsnprintf(probe, sizeof probe, fmt, ap); /* the length it needs */
    va_end(ap);
    if (n < 0) return;
    sb_grow(b, (size_t)n);
    va_start(ap, fmt);
    vsnprintf(b->s + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

/* `text` with HTML's five special characters escaped (user agents come from clients). */
static void sb_esc(struct sb *b, const char *text) {
    for (const char *p = text ? text : ""; *p; p++) {
        switch (*p) {
        case '&': sb_add(b, "&amp;"); break;
        case '<': sb_add(b, "&lt;"); break;
        case '>': sb_add(b, "&gt;"); break;
        case '"': sb_add(b, "&quot;"); break;
        case '\'': sb_add(b, "&#39;"); break;
        default: sb_grow(b, 1); b->s[b->len++] = *p; b->s[b->len] = '\0';
        }
    }
}

/* "4 min 05 s", rounded up as the Flask and Express sites round. */
static void sb_duration(struct sb *b, long long ms) {
    long long s = ms <= 0 ? 0 : (ms + 999) / 1000;
    if (s >= 3600)
        sb_add(b, "%lld h %02lld min", s / 3600, s % 3600 / 60);
    else if (s >= 60)
        sb_add(b, "%lld min %02lld s", s / 60, s % 60);
    else
        sb_add(b, "%lld s", s);
}

/* ---- the configuration and the clock -------------------------------------------------- */

/* Read demo.json; the manager's options become settings.options. 0 and a reason on failure. */
static int demo_load(const char *path, char *why, size_t why_len) {
    json_error_t error;
    demo.config = json_load_file(path, 0, &error);
    json_t *options = json_object_get(demo.config, "options");
    demo.events = json_string_value(json_object_get(demo.config, "events"));
    demo.assets = json_string_value(json_object_get(demo.config, "assets"));
    if (!json_is_object(options) || demo.events == NULL || demo.assets == NULL ||
        !json_is_object(json_object_get(demo.config, "sites"))) {
        snprintf(why, why_len, "%s: not a demo configuration (%s); write it with demo/launch.py",
                 path, demo.config ? "missing keys" : error.text);
        return 0;
    }
    demo.idle_ms = json_integer_value(json_object_get(options, "idle_timeout_ms"));
    demo.absolute_ms = json_integer_value(json_object_get(options, "absolute_timeout_ms"));
    demo.rotation_ms = json_integer_value(json_object_get(options, "rotation_interval_ms"));
    json_t *recent = json_object_get(demo.config, "recent_ms");
    demo.recent_ms = json_is_integer(recent) ? json_integer_value(recent) : 5 * 60 * 1000;
    demo.options = json_dumps(options, JSON_COMPACT);
    settings.options = demo.options;
    demo.on = 1;
    return 1;
}

static void demo_free(void) {
    json_decref(demo.config);
    if (demo.options) wipe(demo.options, strlen(demo.options)); /* it holds the pepper */
    free(demo.options);
}

/* Now by the manager's clock (the test clock in --test), in ms. */
static uint64_t demo_now(void) {
    uint64_t now = 0;
    if (test_clock != NULL && tessera_clock_now(test_clock, &now) == TESSERA_STATUS_OK) return now;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* ---- the shared events file ----------------------------------------------------------- */

/* The listener's half for the demo: one JSON line per lifecycle event (no "rejected": it
 * happens on every stale cookie), ids and users only. */
static void demo_record(const tessera_event *event) {
    const char *kind = tessera_event_kind(event);
    if (!demo.on || kind == NULL || strcmp(kind, "rejected") == 0) return;
    json_t *line = json_pack("{s:I, s:s, s:s, s:s?, s:s?, s:s?, s:s?, s:s?}", "at",
                             (json_int_t)tessera_event_at(event), "site", DEMO_SITE_NAME, "kind",
                             kind, "id", tessera_event_id(event), "previous_id",
                             tessera_event_previous_id(event), "user", tessera_event_user(event),
                             "reason",
                             tessera_event_reason(event) ? tessera_event_reason(event)
                                                         : tessera_event_detail(event),
                             "cause",
                             strcmp(kind, "revoked") == 0 ? demo_cause : NULL);
    char *text = line ? json_dumps(line, JSON_COMPACT) : NULL;
    json_decref(line);
    if (text == NULL) return;
    size_t len = strlen(text);
    text[len] = '\n'; /* replaces the NUL: written with its length below */
    /* One write of one line, O_APPEND: the three processes' lines never interleave. */
    int fd = open(demo.events, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    if (fd >= 0) {
        ssize_t written = write(fd, text, len + 1);
        (void)written; /* an audit line lost is not worth failing a request */
        close(fd);
    }
    free(text);
}

/* Every event in the file, as a JSON array (lines another process is writing are skipped). */
static json_t *demo_events(void) {
    json_t *all = json_array();
    FILE *f = fopen(demo.events, "r");
    if (f == NULL) return all;
    char *line = NULL;
    size_t cap = 0;
    while (getline(&line, &cap, f) > 0) {
        json_t *e = json_loads(line, 0, NULL);
        if (json_is_object(e))
            json_array_append_new(all, e);
        else
            json_decref(e);
    }
    free(line);
    fclose(f);
    return all;
}

static const char *field(const json_t *e, const char *key) {
    const char *s = json_string_value(json_object_get(e, key));
    return s ? s : "";
}

/* When the session's current token was minted (ms), or 0 if the file does not say. */
static uint64_t rotated_at(const json_t *events, const char *id) {
    uint64_t at = 0;
    size_t i;
    json_t *e;
    json_array_foreach(events, i, e) {
        const char *kind = field(e, "kind");
        if (strcmp(field(e, "id"), id) == 0 &&
            (!strcmp(kind, "created") || !strcmp(kind, "login") || !strcmp(kind, "rotated") ||
             !strcmp(kind, "reauthenticated")))
            at = (uint64_t)json_integer_value(json_object_get(e, "at"));
    }
    return at;
}

/* Why the session `id` ended: its last ending in the file, following its rotations; `*code`
 * and `*site` point into `events`, or are "unknown" and "". */
static void explain(const json_t *events, const char *id, const char **code, const char **site) {
    char ids[16][TESSERA_ID_BUFFER_LEN];
    size_t n = 0, i;
    json_t *e;
    snprintf(ids[n++], sizeof ids[0], "%s", id);
    for (int moved = 1; moved && n < 16;) { /* the session's later ids, in order */
        moved = 0;
        json_array_foreach(events, i, e) {
            /* A re-authentication gives a new token too. */
            const char *k = field(e, "kind");
            if ((strcmp(k, "rotated") == 0 || strcmp(k, "reauthenticated") == 0) &&
                strcmp(field(e, "previous_id"), ids[n - 1]) == 0 && n < 16) {
                snprintf(ids[n++], sizeof ids[0], "%s", field(e, "id"));
                moved = 1;
                break;
            }
        }
    }
    *code = "unknown";
    *site = "";
    for (i = json_array_size(events); i-- > 0;) {
        e = json_array_get(events, i);
        const char *kind = field(e, "kind");
        int ours = 0;
        for (size_t k = 0; k < n; k++) ours |= strcmp(field(e, "id"), ids[k]) == 0;
        if (!ours) continue;
        *site = field(e, "site");
        if (strcmp(kind, "expired") == 0) {
            *code = *field(e, "reason") ? field(e, "reason") : "expired_idle";
            return;
        }
        if (strcmp(kind, "revoked") == 0) {
            *code = *field(e, "cause") ? field(e, "cause") : "revoked";
            return;
        }
        if (strcmp(kind, "logout") == 0) {
            *code = "logged_out";
            return;
        }
        *site = "";
    }
}

/* ---- pages ---------------------------------------------------------------------------- */

struct demo_page {
    tessera_request *req;
    const char *user; /* a demo account, or NULL */
    int admin;
    char *csrf; /* made on first use */
    struct sb b;
};

static const char *csrf_of(struct demo_page *p) {
    if (p->csrf == NULL && tessera_request_csrf_token(p->req, manager, &p->csrf) != 0)
        p->csrf = NULL;
    return p->csrf ? p->csrf : "";
}

static void csrf_input(struct demo_page *p) {
    sb_add(&p->b, "<input type=\"hidden\" name=\"_csrf\" value=\"%s\">", csrf_of(p));
}

static void head(struct demo_page *p, const char *title) {
    json_t *sites = json_object_get(demo.config, "sites");
    sb_add(&p->b,
           "<!doctype html>\n<html lang=\"en\">\n<head>\n  <meta charset=\"utf-8\">\n"
           "  <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
           "  <title>%s · " DEMO_SITE_NAME "</title>\n"
           "  <link rel=\"stylesheet\" href=\"/demo/static/demo.css\">\n</head>\n<body>\n"
           "<header>\n  <h1><a id=\"home\" href=\"",
           title);
    sb_esc(&p->b, field(sites, DEMO_SITE));
    sb_add(&p->b, "/\">Tessera demo</a> <span id=\"site\" class=\"lang lang-" DEMO_SITE
                  "\" data-site=\"" DEMO_SITE "\">" DEMO_SITE_NAME "</span></h1>\n  <nav>");
    const char *site;
    json_t *url;
    json_object_foreach(sites, site, url) {
        if (strcmp(site, DEMO_SITE) == 0) continue;
        sb_add(&p->b, "<a class=\"peer\" id=\"to-%s\" href=\"", site);
        sb_esc(&p->b, json_string_value(url));
        sb_add(&p->b, "/\">%s</a>", site_name(site));
    }
    if (p->user != NULL) {
        sb_add(&p->b,
               " · Signed in as <strong id=\"who\">%s</strong> · <a href=\"/account\">account</a>%s"
               "<form class=\"inline\" method=\"post\" action=\"/logout\">",
               p->user, p->admin ? " · <a href=\"/admin\">admin</a>" : "");
        csrf_input(p);
        sb_add(&p->b, "<button id=\"sign-out\">Sign out</button></form>");
    }
    sb_add(&p->b, "</nav>\n</header>\n<main>\n");
}

static void tail(struct demo_page *p) {
    sb_add(&p->b, "</main>\n<section id=\"events\" class=\"box\">\n  <h3>Events <span "
                  "class=\"muted\">(audit log of the three servers: ids and users, never "
                  "tokens)</span></h3>\n  <table><tbody id=\"events-list\"></tbody></table>\n"
                  "</section>\n<script src=\"/demo/static/demo.js\"></script>\n</body>\n</html>\n");
}

static void start_page(struct demo_page *p, const char *error) {
    json_t *sites = json_object_get(demo.config, "sites");
    head(p, "Start");
    sb_add(&p->b, "<h2>One session, three languages</h2>\n<p>This page is served by <strong>"
                  DEMO_SITE_NAME "</strong>. Two more servers share its session store:\n");
    const char *site;
    json_t *url;
    int first = 1;
    json_object_foreach(sites, site, url) {
        if (strcmp(site, DEMO_SITE) == 0) continue;
        sb_add(&p->b, "%s<a class=\"peer-link\" href=\"", first ? "" : " and ");
        sb_esc(&p->b, json_string_value(url));
        sb_add(&p->b, "/\">%s</a>", site_name(site));
        first = 0;
    }
    sb_add(&p->b, ". Sign in on any of them and the others know you: one cookie, one store, the "
                  "same rules in Python, Node and C.</p>\n");
    if (p->user != NULL) {
        sb_add(&p->b, "<p>You are signed in as <strong>%s</strong>. <a href=\"/account\" "
                      "id=\"to-account\">Your account and sessions</a>.</p>\n", p->user);
    } else {
        sb_add(&p->b, "<h3>Sign in</h3>\n");
        if (error) sb_add(&p->b, "<p class=\"error\" id=\"error\">%s</p>\n", error);
        sb_add(&p->b, "<form method=\"post\" action=\"/login\">\n  ");
        csrf_input(p);
        sb_add(&p->b,
               "\n  <label>User <input name=\"user\" id=\"user\" autocomplete=\"username\">"
               "</label>\n  <label>Password <input name=\"password\" id=\"password\" "
               "type=\"password\" autocomplete=\"current-password\"></label>\n"
               "  <button id=\"sign-in\">Sign in</button>\n</form>\n<p class=\"muted\">Demo "
               "accounts: ");
        for (size_t i = 0; i < sizeof DEMO_USERS / sizeof DEMO_USERS[0]; i++)
            sb_add(&p->b, "%s<code>%s</code> / <code>%s</code>", i ? ", " : "",
                   DEMO_USERS[i].user, DEMO_USERS[i].password);
        sb_add(&p->b, " (admin can end anyone's sessions).</p>\n");
    }
    sb_add(&p->b,
           "<h3>What to try</h3>\n<ol id=\"try\">\n"
           "  <li>Sign in here, then open the other two sites: they already know you.</li>\n"
           "  <li>On your account page, watch the countdowns tick without a request. With "
           "<code>make demo TIMEOUTS=short</code> the token rotates every 20 s: reload after "
           "that and the session id changes, and the events panel says <em>rotated</em>.</li>\n"
           "  <li>Sign in as the same user in a private window (a second device), then press "
           "“Sign out this device” on its row from any site: its next click explains what "
           "happened.</li>\n"
           "  <li>Sign in as <code>admin</code> elsewhere and end alice's sessions (after a "
           "confirmation): alice's next click, on any site, says an administrator ended "
           "them.</li>\n"
           "  <li>Leave a session alone for the idle timeout: the next click says it "
           "expired.</li>\n"
           "  <li>On your account page, press “Change password” right after signing in: it goes "
           "through. Once your sign-in is older than the page allows, it asks for your password "
           "again first, and your session gets a new token. “Your sessions” shows which devices "
           "are bound to a device key (DBSC).</li>\n</ol>\n<h3>What differs from Tessera's defaults here</h3>\n"
           "<ul id=\"differences\">\n");
    size_t i;
    json_t *d;
    json_array_foreach(json_object_get(demo.config, "differences"), i, d) {
        sb_add(&p->b, "  <li>");
        sb_esc(&p->b, json_string_value(d));
        sb_add(&p->b, "</li>\n");
    }
    sb_add(&p->b, "</ul>\n");
    tail(p);
}

static void clock_span(struct sb *b, const char *id, int known, long long ms, const char *over) {
    if (!known) {
        sb_add(b, "<span class=\"clock\" id=\"%s\">—</span>", id);
        return;
    }
    sb_add(b, "<span class=\"clock\" id=\"%s\" data-left-ms=\"%lld\" data-over=\"%s\">", id, ms,
           over);
    sb_duration(b, ms);
    sb_add(b, "</span>");
}

/* "Chrome 156 on Linux" from a User-Agent header, as the other two sites say it. */
static void sb_device(struct sb *b, const char *ua) {
    static const char *const BROWSERS[][2] = {{"Edge", "Edg/"}, {"Chrome", "Chrome/"},
                                              {"Firefox", "Firefox/"}, {"Safari", "Version/"},
                                              {"curl", "curl/"}, {"Python", "Python-urllib/"}};
    static const char *const SYSTEMS[] = {"Android", "iPhone", "Windows", "Mac OS X", "Linux"};
    if (ua == NULL || !*ua) return sb_add(b, "unknown device");
    const char *system = "";
    for (size_t i = 0; i < sizeof SYSTEMS / sizeof SYSTEMS[0] && !*system; i++)
        if (strstr(ua, SYSTEMS[i])) system = SYSTEMS[i];
    const char *browser = NULL, *version = NULL;
    for (size_t i = 0; i < sizeof BROWSERS / sizeof BROWSERS[0] && !browser; i++)
        if ((version = strstr(ua, BROWSERS[i][1])) != NULL) {
            browser = BROWSERS[i][0];
            version += strlen(BROWSERS[i][1]);
        }
    if (browser) {
        sb_add(b, "%s ", browser);
        char v[16];
        size_t n = strcspn(version, ". ");
        snprintf(v, sizeof v, "%.*s", (int)(n < sizeof v ? n : sizeof v - 1), version);
        sb_esc(b, v);
    } else {
        sb_add(b, "a browser");
    }
    if (*system) sb_add(b, " on %s", strcmp(system, "Mac OS X") == 0 ? "macOS" : system);
}

/* This request's device binding and when the user last authenticated (account page). */
static void security_box(struct demo_page *p, long long now) {
    tessera_binding binding = TESSERA_BINDING_UNBOUND;
    uint64_t at = 0;
    int level = 0;
    char *amr = NULL;
    tessera_request_binding(p->req, &binding);
    int known = tessera_request_authenticated(p->req, &at, &level, &amr) == TESSERA_STATUS_OK &&
                at != 0;
    const char *b = tessera_binding_str((int)binding);
    sb_add(&p->b, "<div class=\"box\" id=\"security\">\n  <p>This request's device binding: "
                  "<strong id=\"binding\" data-binding=\"%s\">%s</strong>\n    <span "
                  "class=\"muted\">(unbound: no device key; pending: bound seconds ago; fresh: "
                  "proved by this device's short-lived cookie)</span>.</p>\n  <p>You last "
                  "authenticated <span id=\"auth-age\" data-ago-ms=\"", b, b);
    if (known) {
        sb_add(&p->b, "%lld\">", now - (long long)at);
        sb_duration(&p->b, now - (long long)at);
        sb_add(&p->b, " ago</span>");
    } else {
        sb_add(&p->b, "\">—</span>");
    }
    sb_add(&p->b, "\n    (level %d", level);
    json_t *methods = amr ? json_loads(amr, 0, NULL) : NULL, *m;
    size_t i;
    json_array_foreach(methods, i, m) {
        sb_add(&p->b, ", ");
        sb_esc(&p->b, json_string_value(m));
    }
    json_decref(methods);
    tessera_string_free(amr);
    sb_add(&p->b, ").\n    <a id=\"to-change-password\" href=\"/change-password\">Change "
                  "password</a> asks for a sign-in less than ");
    sb_duration(&p->b, demo.recent_ms);
    sb_add(&p->b, " old.</p>\n</div>\n");
}

static void change_password_page(struct demo_page *p, int changed) {
    head(p, "Change password");
    sb_add(&p->b, "<h2>Change password</h2>\n");
    if (changed) {
        sb_add(&p->b, "<p id=\"changed\">Password changed. (The demo has no real passwords: it "
                      "only records that you did it.)</p>\n<p><a href=\"/account\">Back to your "
                      "account</a></p>\n");
    } else {
        sb_add(&p->b, "<p>A sensitive change: it needs a sign-in less than ");
        sb_duration(&p->b, demo.recent_ms);
        sb_add(&p->b, " old (<code>require_recent</code>), else you are asked for your password "
                      "again first.</p>\n<form method=\"post\" action=\"/change-password\">\n  ");
        csrf_input(p);
        sb_add(&p->b, "\n  <label>New password <input name=\"new_password\" id=\"new-password\" "
                      "type=\"password\" autocomplete=\"new-password\"></label>\n  <button "
                      "id=\"change\">Change password</button>\n</form>\n");
    }
    tail(p);
}

static void reauth_form_page(struct demo_page *p, const char *next, const char *error) {
    head(p, "Confirm it is you");
    sb_add(&p->b, "<h2>Confirm it is you</h2>\n<p id=\"reauth-why\">Your last sign-in is too old "
                  "for this page. Enter your password again to continue: you get a new session "
                  "token, and the old one stops working at once.</p>\n");
    if (error) sb_add(&p->b, "<p class=\"error\" id=\"error\">%s</p>\n", error);
    sb_add(&p->b, "<form method=\"post\" action=\"/reauth\">\n  ");
    csrf_input(p);
    sb_add(&p->b, "\n  <input type=\"hidden\" name=\"next\" value=\"");
    sb_esc(&p->b, next);
    sb_add(&p->b, "\">\n  <label>Password <input name=\"password\" id=\"reauth-password\" "
                  "type=\"password\" autocomplete=\"current-password\"></label>\n  <button "
                  "id=\"reauth\">Continue</button>\n</form>\n");
    tail(p);
}

static json_t *sessions_of(const char *user) {
    char *text = NULL;
    json_t *list = NULL;
    if (tessera_manager_list_user(manager, user, &text) == TESSERA_STATUS_OK)
        list = json_loads(text, 0, NULL);
    tessera_string_free(text);
    return json_is_array(list) ? list : (json_decref(list), json_array());
}

static void account_page(struct demo_page *p) {
    char id[TESSERA_ID_BUFFER_LEN] = "";
    bool present = false;
    tessera_request_id(p->req, id, sizeof id, &present);
    json_t *sessions = sessions_of(p->user), *events = demo_events(), *s, *current = NULL;
    long long now = (long long)demo_now();
    size_t i;
    json_array_foreach(sessions, i, s) if (strcmp(field(s, "id"), id) == 0) current = s;
    uint64_t minted = current ? rotated_at(events, id) : 0;
    head(p, "Your account");
    sb_add(&p->b, "<h2>Hello, %s</h2>\n<p id=\"protected\">This page is only for signed-in "
                  "users.</p>\n<div class=\"box\" id=\"clocks\">\n  <p>Without activity this "
                  "session ends in\n    ", p->user);
    clock_span(&p->b, "idle-left", current != NULL,
               json_integer_value(json_object_get(current, "expires_at")) - now,
               "now: your next click signs you out");
    sb_add(&p->b, "\n    (idle timeout), and in any case in\n    ");
    clock_span(&p->b, "absolute-left", current != NULL,
               json_integer_value(json_object_get(current, "absolute_deadline")) - now, "now");
    sb_add(&p->b, "\n    (absolute timeout).</p>\n  <p>Token: session id <code id=\"session-id\">"
                  "%.12s…</code>, minted ", id);
    if (minted) {
        sb_duration(&p->b, now - (long long)minted);
        sb_add(&p->b, " ago");
    } else {
        sb_add(&p->b, "—");
    }
    sb_add(&p->b, ";\n    next rotation in ");
    clock_span(&p->b, "rotation-left", minted && demo.rotation_ms,
               (long long)minted + demo.rotation_ms - now, "due: your next request gets a new token");
    sb_add(&p->b, ".</p>\n  <p class=\"muted\">These count down in the page without asking the "
                  "server: looking is not activity. Each page you open is, and restarts the "
                  "idle countdown.</p>\n</div>\n");
    security_box(p, now);
    sb_add(&p->b, "\n<h3>Your sessions</h3>\n<table id=\"sessions\">\n  <tr><th>Session</th>"
                  "<th>Device</th><th>Device binding</th><th>Last seen</th><th></th></tr>\n");
    json_array_foreach(sessions, i, s) {
        const char *sid = field(s, "id"), *ua = field(s, "user_agent");
        sb_add(&p->b, "  <tr class=\"session\" data-id=\"%s\">\n    <td><code>%.12s…</code>%s</td>"
                      "\n    <td title=\"", sid, sid,
               strcmp(sid, id) == 0 ? " <strong class=\"this-device\">(this device)</strong>" : "");
        sb_esc(&p->b, ua);
        sb_add(&p->b, "\">");
        sb_device(&p->b, ua);
        int bound = json_is_true(json_object_get(s, "bound"));
        sb_add(&p->b, "</td>\n    <td class=\"binding\" data-bound=\"%s\">",
               bound ? "true" : "false");
        if (bound) {
            /* The first characters of the RFC 7638 thumbprint: enough to tell keys apart. */
            sb_add(&p->b, "bound · key <code class=\"thumbprint\">");
            char shortened[11];
            snprintf(shortened, sizeof shortened, "%s", field(s, "key_thumbprint"));
            sb_esc(&p->b, shortened);
            sb_add(&p->b, "…</code>");
        } else {
            sb_add(&p->b, "not bound");
        }
        sb_add(&p->b, "</td>\n    <td class=\"nowrap\">");
        sb_duration(&p->b, now - json_integer_value(json_object_get(s, "last_seen")));
        sb_add(&p->b, " ago</td>\n    <td><form class=\"inline\" method=\"post\" "
                      "action=\"/sessions/%s/end\">", sid);
        csrf_input(p);
        sb_add(&p->b, "<button class=\"end-device\">Sign out this device</button></form></td>\n"
                      "  </tr>\n");
    }
    sb_add(&p->b, "</table>\n<div class=\"actions\">\n  <form class=\"inline\" method=\"post\" "
                  "action=\"/logout-others\">");
    csrf_input(p);
    sb_add(&p->b, "<button id=\"sign-out-others\">Sign out other devices</button></form>\n"
                  "  <a id=\"sign-out-everywhere\" href=\"/logout-everywhere\">Sign out "
                  "everywhere…</a>\n</div>\n");
    tail(p);
    json_decref(sessions);
    json_decref(events);
}

static void admin_page(struct demo_page *p) {
    head(p, "Administration");
    sb_add(&p->b, "<h2>Administration</h2>\n<p>End every session of a user, e.g. when an "
                  "account is disabled or its password was reset.</p>\n<table id=\"users\">\n"
                  "  <tr><th>User</th><th>Live sessions</th><th></th></tr>\n");
    for (size_t i = 0; i < sizeof DEMO_USERS / sizeof DEMO_USERS[0]; i++) {
        json_t *list = sessions_of(DEMO_USERS[i].user);
        sb_add(&p->b, "  <tr data-user=\"%s\">\n    <td>%s</td><td class=\"count\">%zu</td>\n"
                      "    <td><a class=\"end-user\" id=\"end-%s\" href=\"/admin/users/%s/end\">"
                      "End all sessions…</a></td>\n  </tr>\n",
               DEMO_USERS[i].user, DEMO_USERS[i].user, json_array_size(list),
               DEMO_USERS[i].user, DEMO_USERS[i].user);
        json_decref(list);
    }
    sb_add(&p->b, "</table>\n");
    tail(p);
}

static void confirm_page(struct demo_page *p, const char *question, const char *action,
                         const char *button) {
    head(p, "Are you sure?");
    sb_add(&p->b, "<h2>Are you sure?</h2>\n<p id=\"confirm-what\">%s</p>\n<form method=\"post\" "
                  "action=\"%s\">\n  ", question, action);
    csrf_input(p);
    sb_add(&p->b, "\n  <button id=\"confirm\">%s</button>\n  <a id=\"cancel\" "
                  "href=\"/account\">Cancel</a>\n</form>\n", button);
    tail(p);
}

static void signed_out_page(struct demo_page *p, const char *why, const char *site) {
    static const char *const WHY[][2] = {
        {"expired_idle", "Your session expired: it was not used for %s (the idle timeout)."},
        {"expired_absolute", "Your session reached its absolute lifetime of %s: a session ends "
                             "then, however active it is."},
        {"everywhere", "Someone signed in as you chose “Sign out everywhere”%s: every session "
                       "of the account ended, this one too."},
        {"device", "This device was signed out from another device (“Sign out this device”%s)."},
        {"admin", "An administrator ended all your sessions%s, as after a password reset."},
        {"revoked", "Your session was ended on the server%s."},
        {"logged_out", "This session was signed out%s."},
        {"unknown", "The server no longer knows this session (was the demo restarted?).%s"},
        {"malformed", "The session cookie was not one the server issued.%s"},
        {"binding_missing", "This session is bound to a device key, and this request did not "
                            "prove it (no current short-lived bound cookie): a copied session "
                            "cookie alone signs nobody in. The device that holds the key stays "
                            "signed in.%s"}};
    size_t k = 7; /* unknown */
    for (size_t i = 0; i < sizeof WHY / sizeof WHY[0]; i++)
        if (why != NULL && strcmp(why, WHY[i][0]) == 0) k = i;
    struct sb arg = {0};
    if (k == 0 || k == 1) {
        sb_duration(&arg, k == 0 ? demo.idle_ms : demo.absolute_ms);
    } else if (k >= 2 && k <= 6 && site != NULL && *site) {
        sb_add(&arg, " on the ");
        sb_esc(&arg, site);
        sb_add(&arg, " site");
    } else {
        sb_add(&arg, "%s", "");
    }
    head(p, "Signed out");
    sb_add(&p->b, "<h2>You were signed out</h2>\n<p id=\"why\" data-why=\"%s\">", WHY[k][0]);
    sb_add(&p->b, WHY[k][1], arg.s); /* WHY holds literals, each with one %s */
    sb_add(&p->b, "</p>\n<p><a href=\"/\">Sign in again</a></p>\n");
    tail(p);
    free(arg.s);
}

static void error_page(struct demo_page *p, unsigned code, const char *name, const char *text) {
    head(p, name);
    sb_add(&p->b, "<h2 id=\"error-code\">%u %s</h2>\n<p class=\"error\">%s</p>\n<p><a "
                  "href=\"/\">Back to the start page</a></p>\n", code, name, text);
    tail(p);
}

/* ---- routes --------------------------------------------------------------------------- */

static const char *demo_account(const char *user) {
    for (size_t i = 0; user && i < sizeof DEMO_USERS / sizeof DEMO_USERS[0]; i++)
        if (strcmp(user, DEMO_USERS[i].user) == 0) return DEMO_USERS[i].user;
    return NULL;
}

static void redirect(struct reply *r, const char *location) {
    reply_text(r, 302, "text/plain", "see other\n");
    snprintf(r->where, sizeof r->where, "%s", location);
    r->location = r->where;
}

/* Percent-encode `in` for a query string. */
static void url_encode(char *out, size_t out_len, const char *in) {
    size_t o = 0;
    for (const unsigned char *p = (const unsigned char *)in; *p && o + 4 < out_len; p++) {
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
            *p == '-' || *p == '_' || *p == '.')
            out[o++] = (char)*p;
        else
            o += (size_t)snprintf(out + o, out_len - o, "%%%02X", *p);
    }
    out[o] = '\0';
}

/* "/sessions/<64 hex>/end" → the id, or NULL. */
static int session_path(const char *url, char id[TESSERA_ID_BUFFER_LEN]) {
    const char *prefix = "/sessions/";
    size_t n = strlen(prefix);
    if (strncmp(url, prefix, n) != 0 || strlen(url) != n + 64 + 4 || strcmp(url + n + 64, "/end"))
        return 0;
    for (size_t i = 0; i < 64; i++)
        if (!strchr("0123456789abcdef", url[n + i]) || url[n + i] == '\0') return 0;
    snprintf(id, TESSERA_ID_BUFFER_LEN, "%.64s", url + n);
    return 1;
}

/* "/admin/users/<demo account>/end" → the account, or NULL. */
static const char *user_path(const char *url) {
    const char *prefix = "/admin/users/";
    size_t n = strlen(prefix);
    if (strncmp(url, prefix, n) != 0) return NULL;
    const char *end = strstr(url + n, "/end");
    if (end == NULL || end[4] != '\0') return NULL;
    char name[64];
    snprintf(name, sizeof name, "%.*s", (int)(end - (url + n)), url + n);
    return demo_account(name);
}

static int demo_csrf_ok(const tessera_request *req, const char *body) {
    char csrf[256];
    bool valid = false;
    form_field(body ? body : "", "_csrf", csrf, sizeof csrf);
    return csrf[0] && tessera_request_verify_csrf(req, csrf, &valid) == TESSERA_STATUS_OK && valid;
}

/* Answered before begin (no session activity): the events feed and the shared assets. */
static int demo_outside(const char *method, const char *url, struct reply *r) {
    if (!demo.on || strcmp(method, "GET") != 0 || strncmp(url, "/demo/", 6) != 0) return 0;
    if (strcmp(url, "/demo/events") == 0) {
        json_t *all = demo_events();
        size_t n = json_array_size(all);
        json_t *shown = json_array();
        for (size_t i = n > DEMO_EVENTS_SHOWN ? n - DEMO_EVENTS_SHOWN : 0; i < n; i++)
            json_array_append(shown, json_array_get(all, i));
        json_decref(all);
        pthread_rwlock_rdlock(&state_lock); /* the test clock may be replaced by /__reset */
        json_int_t now = (json_int_t)demo_now();
        pthread_rwlock_unlock(&state_lock);
        reply_json(r, 200, json_pack("{s:I, s:o}", "now", now, "events", shown));
        r->personal = 1; /* no-store: always the latest */
        return 1;
    }
    const char *name = url + strlen("/demo/static/");
    const char *type = strcmp(name, "demo.js") == 0    ? "text/javascript"
                       : strcmp(name, "demo.css") == 0 ? "text/css"
                                                       : NULL;
    if (strncmp(url, "/demo/static/", 13) != 0 || type == NULL) {
        reply_text(r, 404, "text/plain", "not found\n");
        return 1;
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", demo.assets, name);
    FILE *f = fopen(path, "r");
    struct sb b = {0};
    char chunk[4096];
    size_t got;
    while (f && (got = fread(chunk, 1, sizeof chunk, f)) > 0) sb_add(&b, "%.*s", (int)got, chunk);
    if (f) fclose(f);
    reply_text(r, f ? 200 : 404, f ? type : "text/plain", b.s ? b.s : "not found\n");
    free(b.s);
    return 1;
}

/* The id of the session cookie the request carried (begin refused it), for the explanation;
 * the token itself is wiped at once. "" if there was none, or two. */
static void refused_id(const char *cookie_header, char id[TESSERA_ID_BUFFER_LEN]) {
    char token[TESSERA_TOKEN_BUFFER_LEN];
    tessera_cookie found = TESSERA_COOKIE_ABSENT;
    id[0] = '\0';
    if (tessera_manager_cookie_token(manager, cookie_header, token, sizeof token, &found) ==
            TESSERA_STATUS_OK &&
        found == TESSERA_COOKIE_ONE)
        tessera_manager_id_of(manager, token, id, TESSERA_ID_BUFFER_LEN, NULL);
    wipe(token, sizeof token);
}

/* The demo site's routes: 1 if `url` is one of them (the reply is in *r). */
static int demo_app(struct MHD_Connection *conn, tessera_request *req, const char *method,
                    const char *url, const char *body, const char *refused, struct reply *r) {
    int get = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
    int post = strcmp(method, "POST") == 0;
    tessera_reason reason = TESSERA_REASON_NONE;
    tessera_request_reason(req, &reason);
    /* A sign-in replaces whatever cookie the browser had: no explanation in its way. */
    int sign_in = post && strcmp(url, "/login") == 0;
    if (reason != TESSERA_REASON_NONE && strcmp(url, "/signed-out") != 0 && !sign_in) {
        /* Before any CSRF check: a form posted from a page whose session has ended since gets
         * the explanation, not a CSRF error. The audit log is read by the cookie's public id. */
        const char *code = tessera_reason_str((int)reason), *site = "";
        json_t *events = demo_events();
        if (*refused) {
            const char *found;
            explain(events, refused, &found, &site);
            if (strcmp(found, "unknown") != 0 || reason == TESSERA_REASON_UNKNOWN) code = found;
        }
        char why[64], where[128], location[256];
        url_encode(why, sizeof why, code ? code : "unknown");
        url_encode(where, sizeof where, site);
        snprintf(location, sizeof location, "/signed-out?why=%s&site=%s", why, where);
        json_decref(events);
        redirect(r, location);
        return 1;
    }
    struct demo_page p = {.req = req, .user = demo_account(request_user(req))};
    p.admin = p.user != NULL && strcmp(p.user, "admin") == 0;
    unsigned status = 200;
    const char *target = NULL;
    char id[TESSERA_ID_BUFFER_LEN];

    if (post && !demo_csrf_ok(req, body)) {
        status = 403;
        error_page(&p, 403, "Forbidden",
                   "CSRF token missing or invalid: reload the page and try again.");
    } else if (get && (strcmp(url, "/") == 0 || strcmp(url, "/login") == 0)) {
        start_page(&p, NULL);
    } else if (get && strcmp(url, "/signed-out") == 0) {
        signed_out_page(&p, MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "why"),
                        MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "site"));
    } else if (post && strcmp(url, "/login") == 0) {
        char name[64], password[256];
        form_field(body, "user", name, sizeof name);
        form_field(body, "password", password, sizeof password);
        const char *user = NULL;
        for (size_t i = 0; i < sizeof DEMO_USERS / sizeof DEMO_USERS[0]; i++)
            if (same_secret(name, DEMO_USERS[i].user) &
                same_secret(password, DEMO_USERS[i].password))
                user = DEMO_USERS[i].user;
        wipe(password, sizeof password);
        /* One factor, a password: level 1. Over HTTPS (loopback, demo_https) the response also
         * offers a device binding. */
        tessera_status st = user ? tessera_request_login_with(req, manager, user, 1, "[\"pwd\"]")
                                 : TESSERA_STATUS_OK;
        if (st != TESSERA_STATUS_OK) {
            free(p.b.s);
            tessera_string_free(p.csrf);
            reply_error(r, st);
            return 1;
        }
        if (user == NULL) {
            status = 401;
            start_page(&p, "Wrong user or password.");
        } else {
            redirect(r, "/account");
        }
    } else if (p.user == NULL && (strcmp(url, "/account") == 0 || strcmp(url, "/admin") == 0 ||
                                  strncmp(url, "/logout", 7) == 0 ||
                                  strncmp(url, "/sessions/", 10) == 0 ||
                                  strcmp(url, "/reauth") == 0 ||
                                  strncmp(url, "/admin/", 7) == 0)) {
        redirect(r, "/");
    } else if (strcmp(url, "/change-password") == 0 && (get || post)) {
        /* Step-up: a stale sign-in is sent to /reauth?next=/change-password (303). */
        if (recent_required(conn, req, r, url, (uint64_t)demo.recent_ms, 1) == NULL) {
            free(p.b.s);
            tessera_string_free(p.csrf);
            return 1;
        }
        /* The demo has no real passwords: it only says so (a real app stores the new hash). */
        if (post) printf("%s changed the password (demo: nothing stored)\n", p.user);
        fflush(stdout);
        change_password_page(&p, post);
    } else if (get && strcmp(url, "/reauth") == 0) {
        const char *next = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "next");
        reauth_form_page(&p, safe_next(next ? next : "/account"), NULL);
    } else if (post && strcmp(url, "/reauth") == 0) {
        char password[256], next[256];
        form_field(body, "password", password, sizeof password);
        form_field(body, "next", next, sizeof next);
        int ok = 0;
        for (size_t i = 0; i < sizeof DEMO_USERS / sizeof DEMO_USERS[0]; i++)
            if (strcmp(p.user, DEMO_USERS[i].user) == 0)
                ok = same_secret(password, DEMO_USERS[i].password);
        wipe(password, sizeof password);
        const char *target = safe_next(next[0] ? next : "/account");
        if (!ok) {
            status = 401;
            reauth_form_page(&p, target, "Wrong password.");
        } else {
            /* A new token (the old one dead at once), authenticated as of now; binding kept. */
            bool done = false;
            tessera_status st =
                tessera_request_reauthenticate(req, manager, 1, "[\"pwd\"]", &done);
            if (st != TESSERA_STATUS_OK) {
                free(p.b.s);
                tessera_string_free(p.csrf);
                reply_error(r, st);
                return 1;
            }
            redirect(r, target);
        }
    } else if (get && strcmp(url, "/account") == 0) {
        account_page(&p);
    } else if (post && strcmp(url, "/logout") == 0) {
        r->auth = TESSERA_AUTH_LOGGED_OUT;
        redirect(r, "/");
    } else if (post && strcmp(url, "/logout-others") == 0) {
        json_t *list = sessions_of(p.user), *s;
        size_t i;
        char mine[TESSERA_ID_BUFFER_LEN] = "";
        tessera_request_id(req, mine, sizeof mine, NULL);
        demo_cause = "device";
        json_array_foreach(list, i, s) if (strcmp(field(s, "id"), mine) != 0)
            tessera_manager_revoke(manager, field(s, "id"), NULL);
        demo_cause = NULL;
        json_decref(list);
        redirect(r, "/account");
    } else if (get && strcmp(url, "/logout-everywhere") == 0) {
        json_t *list = sessions_of(p.user);
        char question[256];
        snprintf(question, sizeof question,
                 "Sign out all %zu session(s) of %s, on every device and site?",
                 json_array_size(list), p.user);
        json_decref(list);
        confirm_page(&p, question, "/logout-everywhere", "Yes, sign out everywhere");
    } else if (post && strcmp(url, "/logout-everywhere") == 0) {
        demo_cause = "everywhere";
        tessera_manager_revoke_user(manager, p.user, NULL);
        demo_cause = NULL;
        r->auth = TESSERA_AUTH_LOGGED_OUT;
        redirect(r, "/");
    } else if (post && session_path(url, id)) {
        char mine[TESSERA_ID_BUFFER_LEN] = "";
        int yours = 0;
        json_t *list = sessions_of(p.user), *s;
        size_t i;
        json_array_foreach(list, i, s) yours |= strcmp(field(s, "id"), id) == 0;
        json_decref(list);
        tessera_request_id(req, mine, sizeof mine, NULL);
        if (!yours) {
            status = 404;
            error_page(&p, 404, "Not Found", "No such session of yours.");
        } else if (strcmp(id, mine) == 0) {
            r->auth = TESSERA_AUTH_LOGGED_OUT;
            redirect(r, "/");
        } else {
            demo_cause = "device";
            tessera_manager_revoke(manager, id, NULL);
            demo_cause = NULL;
            redirect(r, "/account");
        }
    } else if (!p.admin && strncmp(url, "/admin", 6) == 0) {
        status = 403;
        error_page(&p, 403, "Forbidden", "Only the administrator can see this page.");
    } else if (get && strcmp(url, "/admin") == 0) {
        admin_page(&p);
    } else if ((target = user_path(url)) != NULL && get) {
        json_t *list = sessions_of(target);
        char question[256], action[128], button[128];
        snprintf(question, sizeof question,
                 "End all %zu session(s) of %s? They are signed out everywhere.",
                 json_array_size(list), target);
        snprintf(action, sizeof action, "/admin/users/%s/end", target);
        snprintf(button, sizeof button, "Yes, end %s's sessions", target);
        json_decref(list);
        confirm_page(&p, question, action, button);
    } else if (target != NULL && post) {
        demo_cause = "admin";
        tessera_manager_revoke_user(manager, target, NULL);
        demo_cause = NULL;
        if (strcmp(target, p.user) == 0) r->auth = TESSERA_AUTH_LOGGED_OUT;
        redirect(r, strcmp(target, p.user) == 0 ? "/" : "/admin");
    } else {
        status = 404;
        error_page(&p, 404, "Not Found", "There is no such page.");
    }
    if (p.b.s != NULL) {
        reply_text(r, status, "text/html; charset=utf-8", p.b.s);
        free(p.b.s);
    }
    r->personal |= p.user != NULL; /* a signed-in page never comes back from a cache */
    tessera_string_free(p.csrf);
    return 1;
}
