/*
 * device_binding.h: device-bound sessions (DBSC) and step-up re-authentication in the example
 * server (docs/dbsc.md; included by server.c, which it shares helpers with).
 *
 *   POST <dbsc_path_prefix>/register, /refresh   the two DBSC endpoints, answered by Tessera
 *                             whole (status, headers, body), before the session is begun and
 *                             without a CSRF check (the single-use challenge is the browser's
 *                             anti-forgery token). Signing in over HTTPS offers a binding.
 *   GET  /account             login required: who you are, this device's binding, when and how
 *                             strongly you signed in (JSON)
 *   GET  /device              a device-bound session required (an unbound one is refused too)
 *   GET  /reauth              the re-authentication page (password, optional one-time code)
 *   POST /reauth              form fields csrf, password[, otp], next: sign in again (303 to next)
 *   POST /change-password     requires a sign-in less than 5 minutes old (require_recent)
 *   GET  /security            requires a recent sign-in with two factors (level 2)
 *   POST /offer-binding       offer this signed-in session a binding now (X-CSRF-Token)
 *
 * The guards answer as a login page would: a page request is redirected (303) to the sign-in
 * page or the re-authentication page with next=; a request that accepts application/json gets
 * 401 with {"error": "login_required" | "binding_required" | "reauthentication_required",
 * "reason": ...}.
 */

/* How recent a sign-in the sensitive routes want, and the demo's one-time code (a real service
 * checks a TOTP or a security key). */
#define RECENT_MS (5 * 60 * 1000ULL)
#define DEMO_OTP "123456"

/* ---- the two endpoints ---------------------------------------------------------------- */

/* The origin of this request as the server sees it (for the session config's scope). */
static void request_origin(struct MHD_Connection *conn, bool https, char *out, size_t len) {
    const char *host = header(conn, "Host");
    snprintf(out, len, "%s://%s", https ? "https" : "http", host ? host : "127.0.0.1");
}

/* Send an endpoint's answer as it is. */
static enum MHD_Result send_endpoint(struct MHD_Connection *conn,
                                     const tessera_endpoint_response *resp) {
    int status = 500;
    const char *body = "";
    size_t len = 0, count = 0;
    tessera_endpoint_response_status(resp, &status);
    tessera_endpoint_response_body(resp, &body, &len);
    struct MHD_Response *out =
        MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
    if (out == NULL) return MHD_NO;
    if (tessera_endpoint_response_header_count(resp, &count) == TESSERA_STATUS_OK)
        for (size_t i = 0; i < count; i++) {
            const char *name = NULL, *value = NULL;
            if (tessera_endpoint_response_header(resp, i, &name, &value) == TESSERA_STATUS_OK)
                MHD_add_response_header(out, name, value);
        }
    enum MHD_Result ret = MHD_queue_response(conn, (unsigned)status, out);
    MHD_destroy_response(out);
    return ret;
}

/* The DBSC endpoints: 1 if `url` is one (answered, *ret set), else 0. Takes the read side of
 * the state lock itself. */
static int dbsc_endpoint(struct MHD_Connection *conn, const char *url, const char *method,
                         const char *cookie_header, bool https, enum MHD_Result *ret) {
    tessera_dbsc_route route = TESSERA_DBSC_ROUTE_NONE;
    pthread_rwlock_rdlock(&state_lock);
    if (tessera_dbsc_route_of(manager, url, &route) != TESSERA_STATUS_OK ||
        route == TESSERA_DBSC_ROUTE_NONE) {
        pthread_rwlock_unlock(&state_lock);
        return 0;
    }
    char origin[300];
    request_origin(conn, https, origin, sizeof origin);
    tessera_dbsc_head head = {0};
    head.cookie_header = cookie_header;
    head.https = https;
    head.method = method;
    head.origin = origin;
    head.session_id = header(conn, "Sec-Secure-Session-Id");
    head.proof = header(conn, "Secure-Session-Response");
    tessera_endpoint_response *resp = NULL;
    tessera_status st = route == TESSERA_DBSC_ROUTE_REGISTER
                            ? tessera_dbsc_register(manager, &head, &resp)
                            : tessera_dbsc_refresh(manager, &head, &resp);
    pthread_rwlock_unlock(&state_lock);
    if (st == TESSERA_STATUS_OK) {
        *ret = send_endpoint(conn, resp);
    } else {
        /* store_unavailable: 503, and the browser keeps its session and tries again later. */
        struct reply r = {.status = 500};
        reply_error(&r, st);
        *ret = send_reply(conn, &r, NULL);
        free(r.body);
    }
    tessera_endpoint_response_free(resp);
    return 1;
}

/* ---- the guards ----------------------------------------------------------------------- */

static int wants_json(struct MHD_Connection *conn) {
    const char *accept = header(conn, "Accept");
    return accept != NULL && strstr(accept, "application/json") != NULL;
}

/* Refuse the way a login guard does: 401 JSON, or 303 to `page` with next=`url`. */
static void refuse(struct MHD_Connection *conn, struct reply *r, const char *error,
                   const char *reason, const char *page, const char *url) {
    if (wants_json(conn)) {
        reply_json(r, MHD_HTTP_UNAUTHORIZED,
                   json_pack("{s:s,s:s?}", "error", error, "reason", reason));
        return;
    }
    snprintf(r->where, sizeof r->where, "%s?next=%s", page, url);
    r->location = r->where;
    reply_text(r, MHD_HTTP_SEE_OTHER, "text/plain", "see other\n");
}

/* Login required. Returns the user, or NULL after refusing. A bound session this request did
 * not prove (a stolen cookie without its device) is anonymous: reason binding_missing. */
static const char *login_required(struct MHD_Connection *conn, tessera_request *req,
                                  struct reply *r, const char *url) {
    const char *user = request_user(req);
    if (user != NULL) return user;
    tessera_reason reason = TESSERA_REASON_NONE;
    tessera_request_reason(req, &reason);
    refuse(conn, r, "login_required", tessera_reason_str((int)reason), "/", url);
    return NULL;
}

/* A device-bound session required: an unbound one is refused as well (reason "unbound"). */
static const char *bound_required(struct MHD_Connection *conn, tessera_request *req,
                                  struct reply *r, const char *url) {
    const char *user = login_required(conn, req, r, url);
    if (user == NULL) return NULL;
    tessera_binding binding = TESSERA_BINDING_UNBOUND;
    if (tessera_request_binding(req, &binding) == TESSERA_STATUS_OK &&
        binding != TESSERA_BINDING_UNBOUND)
        return user;
    refuse(conn, r, "binding_required", "unbound", "/", url);
    return NULL;
}

/* A sign-in at most `max_age_ms` old, of at least `level`: else the login flow (anonymous) or
 * the re-authentication page (stale, level). */
static const char *recent_required(struct MHD_Connection *conn, tessera_request *req,
                                   struct reply *r, const char *url, uint64_t max_age_ms,
                                   int level) {
    tessera_freshness f = TESSERA_FRESHNESS_ANONYMOUS;
    tessera_status st = tessera_request_require_recent(req, manager, max_age_ms, level, &f);
    if (st != TESSERA_STATUS_OK) {
        reply_error(r, st);
        return NULL;
    }
    if (f == TESSERA_FRESHNESS_ANONYMOUS) return login_required(conn, req, r, url);
    if (f == TESSERA_FRESHNESS_ALLOWED) return request_user(req);
    refuse(conn, r, "reauthentication_required", tessera_freshness_str((int)f), "/reauth", url);
    return NULL;
}

/* The CSRF token of a state-changing request: the X-CSRF-Token header (checked by begin) or a
 * form field csrf. */
static int csrf_ok(tessera_request *req, const char *body) {
    tessera_csrf verdict = TESSERA_CSRF_INVALID;
    tessera_request_csrf(req, &verdict);
    return verdict != TESSERA_CSRF_INVALID || form_csrf_ok(req, body ? body : "");
}

/* ---- the routes ----------------------------------------------------------------------- */

static void account(struct MHD_Connection *conn, tessera_request *req, struct reply *r,
                    const char *url) {
    const char *user = login_required(conn, req, r, url);
    if (user == NULL) return;
    tessera_binding binding = TESSERA_BINDING_UNBOUND;
    uint64_t at = 0;
    int level = 0;
    char *amr = NULL, *csrf = NULL;
    char id[TESSERA_ID_BUFFER_LEN] = "";
    bool present = false;
    tessera_status st;
    if ((st = tessera_request_binding(req, &binding)) != TESSERA_STATUS_OK ||
        (st = tessera_request_authenticated(req, &at, &level, &amr)) != TESSERA_STATUS_OK ||
        (st = tessera_request_id(req, id, sizeof id, &present)) != TESSERA_STATUS_OK ||
        (st = tessera_request_csrf_token(req, manager, &csrf)) != TESSERA_STATUS_OK) {
        tessera_string_free(amr);
        return reply_error(r, st);
    }
    reply_json(r, MHD_HTTP_OK,
               json_pack("{s:s,s:s,s:s,s:{s:I,s:i,s:o},s:s}", "user", user, "id", id, "binding",
                         tessera_binding_str((int)binding), "authenticated", "at", (json_int_t)at,
                         "level", level, "amr", json_loads(amr, 0, NULL), "csrf", csrf));
    r->personal = 1;
    tessera_string_free(amr);
    tessera_string_free(csrf);
}

static void device(struct MHD_Connection *conn, tessera_request *req, struct reply *r,
                   const char *url) {
    const char *user = bound_required(conn, req, r, url);
    if (user == NULL) return;
    reply_json(r, MHD_HTTP_OK, json_pack("{s:s,s:b}", "user", user, "bound", 1));
}

/* A local path to go back to (never another site: "//host" and "/\\host" are refused). */
static const char *safe_next(const char *next) {
    return next[0] == '/' && next[1] != '/' && next[1] != '\\' ? next : "/";
}

static void reauth_page(tessera_request *req, const char *query_next, struct reply *r) {
    const char *user = request_user(req);
    char *csrf = NULL;
    if (user == NULL) return reply_text(r, MHD_HTTP_UNAUTHORIZED, "text/plain", "not signed in\n");
    tessera_status st = tessera_request_csrf_token(req, manager, &csrf);
    if (st != TESSERA_STATUS_OK) return reply_error(r, st);
    char body[2048], next[256];
    /* Only [A-Za-z0-9/_-] of next reaches the page: nothing to escape. */
    size_t n = 0;
    for (const char *p = safe_next(query_next ? query_next : "/"); *p && n + 1 < sizeof next; p++)
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
            *p == '/' || *p == '-' || *p == '_')
            next[n++] = *p;
    next[n] = '\0';
    snprintf(body, sizeof body,
             "<!doctype html><title>Confirm it is you</title>"
             "<p>Signed in as <b>%s</b>: enter your password again to continue.</p>"
             "<form method=post action=/reauth><input type=hidden name=csrf value=\"%s\">"
             "<input type=hidden name=next value=\"%s\">"
             "<input name=password type=password placeholder=password>"
             "<input name=otp placeholder=\"one-time code (optional)\">"
             "<button>Continue</button></form>",
             user, csrf, next);
    tessera_string_free(csrf);
    reply_text(r, MHD_HTTP_OK, "text/html", body);
    r->personal = 1;
    wipe(body, sizeof body);
}

/* POST /reauth: the password again (and the one-time code for level 2). In test mode a JSON
 * body {"level": n, "amr": [...]} stands for a successful check, as /login does. */
static void reauth(tessera_request *req, const char *raw, const json_t *json, struct reply *r) {
    const char *user = request_user(req);
    if (user == NULL) return reply_text(r, MHD_HTTP_UNAUTHORIZED, "text/plain", "not signed in\n");
    if (!csrf_ok(req, raw))
        return reply_text(r, MHD_HTTP_FORBIDDEN, "text/plain", "missing or wrong CSRF token\n");
    int level = 1;
    char *amr = NULL;
    char next[256] = "/";
    if (settings.test_mode && json != NULL) {
        json_t *l = json_object_get(json, "level"), *a = json_object_get(json, "amr");
        level = json_is_integer(l) ? (int)json_integer_value(l) : 1;
        amr = a != NULL ? json_dumps(a, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
    } else {
        char password[256], otp[64];
        form_field(raw ? raw : "", "password", password, sizeof password);
        form_field(raw ? raw : "", "otp", otp, sizeof otp);
        form_field(raw ? raw : "", "next", next, sizeof next);
        const char *who = check_password(user, password);
        wipe(password, sizeof password);
        if (who == NULL || strcmp(who, user) != 0)
            return reply_text(r, MHD_HTTP_UNAUTHORIZED, "text/plain", "wrong password\n");
        int second = otp[0] != '\0' && same_secret(otp, DEMO_OTP);
        level = second ? 2 : 1;
        amr = strdup(second ? "[\"pwd\",\"otp\"]" : "[\"pwd\"]");
    }
    bool done = false;
    tessera_status st = tessera_request_reauthenticate(req, manager, level, amr, &done);
    free(amr);
    if (st != TESSERA_STATUS_OK) return reply_error(r, st);
    if (!done) return reply_text(r, MHD_HTTP_UNAUTHORIZED, "text/plain", "not signed in\n");
    if (json != NULL) return reply_json(r, MHD_HTTP_OK, json_pack("{s:b}", "ok", 1));
    snprintf(r->where, sizeof r->where, "%s", safe_next(next));
    r->location = r->where;
    reply_text(r, MHD_HTTP_SEE_OTHER, "text/plain", "confirmed\n");
}

static void change_password(struct MHD_Connection *conn, tessera_request *req, const char *raw,
                            struct reply *r, const char *url) {
    if (recent_required(conn, req, r, url, RECENT_MS, 1) == NULL) return;
    if (!csrf_ok(req, raw))
        return reply_text(r, MHD_HTTP_FORBIDDEN, "text/plain", "missing or wrong CSRF token\n");
    /* The demo keeps its passwords in a table; a real service would store the new hash here. */
    reply_json(r, MHD_HTTP_OK, json_pack("{s:b}", "ok", 1));
}

static void security(struct MHD_Connection *conn, tessera_request *req, struct reply *r,
                     const char *url) {
    const char *user = recent_required(conn, req, r, url, RECENT_MS, 2);
    if (user == NULL) return;
    reply_json(r, MHD_HTTP_OK, json_pack("{s:s,s:b}", "user", user, "ok", 1));
}

static void offer_binding(struct MHD_Connection *conn, tessera_request *req, const char *raw,
                          struct reply *r, const char *url) {
    if (login_required(conn, req, r, url) == NULL) return;
    if (!csrf_ok(req, raw))
        return reply_text(r, MHD_HTTP_FORBIDDEN, "text/plain", "missing or wrong CSRF token\n");
    bool offered = false;
    tessera_status st = tessera_request_offer_binding(req, manager, &offered);
    if (st != TESSERA_STATUS_OK) return reply_error(r, st);
    reply_json(r, MHD_HTTP_OK, json_pack("{s:b}", "offered", offered));
}

/* The routes above: 1 if `url` is one of them (answered in *r), else 0. */
static int device_binding_app(struct MHD_Connection *conn, tessera_request *req,
                              const char *method, const char *url, const char *raw,
                              const json_t *json, struct reply *r) {
    int get = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
    int post = strcmp(method, "POST") == 0;
    if (get && strcmp(url, "/account") == 0) {
        account(conn, req, r, url);
    } else if (get && strcmp(url, "/device") == 0) {
        device(conn, req, r, url);
    } else if (get && strcmp(url, "/reauth") == 0) {
        reauth_page(req, MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "next"), r);
    } else if (post && strcmp(url, "/reauth") == 0) {
        reauth(req, raw, json, r);
    } else if (post && strcmp(url, "/change-password") == 0) {
        change_password(conn, req, raw, r, url);
    } else if (get && strcmp(url, "/security") == 0) {
        security(conn, req, r, url);
    } else if (post && strcmp(url, "/offer-binding") == 0) {
        offer_binding(conn, req, raw, r, url);
    } else {
        return 0;
    }
    return 1;
}
