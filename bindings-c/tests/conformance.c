/*
 * conformance.c: the C runner of the conformance corpus (the *.json files of tests/conformance;
 * the format is in tests/conformance/README.md). Every scenario runs through the C ABI on a fresh
 * memory store, a manual clock at 1 700 000 000 000 ms and no background sweeper — or, with
 * --store URL, on that store (a Redis URL): each scenario then gets a key prefix of its own,
 * `<prefix>-<scenario name>` (--prefix, default c-conf-<pid>), so no scenario sees another's keys
 * and runs against the same server never collide — or, with --sqlite-dir DIR (absolute), on SQLite:
 * each scenario on a fresh database file of its own, DIR/<scenario name>.db, deleted (with its
 * -wal and -shm files) once the scenario's manager is freed.
 *
 * C strings end at the first NUL byte, so a `raw` string containing "\u0000" reaches the ABI cut
 * there; the corpus uses such strings only for tokens that are malformed either way.
 *
 * Parsing is strict, like the Rust runner's: an unknown op, argument, expectation or config key
 * makes the scenario fail instead of silently checking nothing. Each failure names the scenario,
 * the step and the mismatch; the last line is "N passed, N failed" over the scenarios.
 *
 * Usage: conformance [--store URL [--prefix P] | --sqlite-dir DIR] [DIR [MIN_SCENARIOS]]
 *        (default: the memory store, tests/conformance, 30)
 */
#define _POSIX_C_SOURCE 200809L

#include <dirent.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tessera.h"
#include "verbose.h" /* TESSERA_TEST_VERBOSE, TESSERA_TEST_TOKENS_FILE */

#define START_MS 1700000000000ULL
/* The corpus must not shrink below this unnoticed (as in the Rust runner). */
#define MIN_SCENARIOS 30

/* ---- the format: what each op and expectation may contain ----------------------------- */

struct op_spec {
    const char *op;
    const char *args;     /* allowed arguments, space-separated ("op" and "expect" always) */
    const char *required; /* required arguments */
    const char *one_of;   /* "a|b": exactly one of a and b ("a|b?": at most one) */
    const char *one_of2;
    const char *expect;   /* expectation fields it can check */
};

#define SESSION_EXPECT                                                                       \
    "result user data same_session_as secure expires_in_ms absolute_in_ms auth_level "        \
    "authenticated_ago_ms"

static const struct op_spec OPS[] = {
    {"create", "user data https user_agent as", "as", NULL, NULL, SESSION_EXPECT},
    {"validate", "token raw https as", "", "token|raw", NULL, SESSION_EXPECT " rotated"},
    {"rotate", "token raw https as", "", "token|raw", NULL, SESSION_EXPECT},
    {"login", "token raw user level amr https user_agent as", "user", "token|raw?", NULL,
     SESSION_EXPECT},
    {"reauthenticate", "token raw level amr https as", "level", "token|raw", NULL, SESSION_EXPECT},
    {"require_recent", "token raw max_age_ms min_level https", "max_age_ms min_level", "token|raw",
     NULL, "result freshness"},
    {"logout", "token raw", "", "token|raw", NULL, "result ended"},
    {"revoke", "id_of raw_id", "", "id_of|raw_id", NULL, "result ended"},
    {"revoke_user", "user", "user", NULL, NULL, "result count"},
    {"revoke_user_except", "user token raw", "user", "token|raw", NULL, "result count"},
    {"revoke_all", "", "", NULL, NULL, "result count"},
    {"list_user", "user", "user", NULL, NULL, "result count ids_of"},
    {"set", "token key value", "token key value", NULL, NULL, "result"},
    {"remove_key", "token key", "token key", NULL, NULL, "result"},
    {"replace_data", "token data", "token data", NULL, NULL, "result"},
    {"csrf_token", "token raw as", "", "token|raw", NULL, "result"},
    {"verify_csrf", "token raw csrf raw_csrf", "", "token|raw", "csrf|raw_csrf", "result valid"},
    {"advance", "ms", "ms", NULL, NULL, ""},
    {"sweep", "", "", NULL, NULL, "result count"},
    {"store_len", "", "", NULL, NULL, "result count"},
    {"events", "", "", NULL, NULL, "result events"},
};

static const char *RESULT_CODES = "ok malformed unknown expired_idle expired_absolute "
                                  "invalid_config invalid_argument data_too_large "
                                  "store_unavailable internal";
static const char *EVENT_KINDS =
    "created rotated login logout revoked expired rejected reauthenticated";
static const char *REASONS = "malformed unknown expired_idle expired_absolute";
static const char *CONFIG_KEYS =
    "idle_timeout_ms absolute_timeout_ms rotation_interval_ms rotation_grace_ms "
    "max_sessions_per_user max_sessions max_data_bytes login_keeps_data cookie_name cookie_secure "
    "cookie_http_only cookie_same_site cookie_path cookie_domain cookie_max_age_ms";
static const char *CONFIG_NULLABLE =
    "rotation_interval_ms max_sessions_per_user max_sessions cookie_domain cookie_max_age_ms";

/* Whether `word` is one of the space-separated words of `list`. */
static int in_list(const char *list, const char *word) {
    size_t n = strlen(word);
    for (const char *p = list; *p != '\0';) {
        while (*p == ' ') p++;
        const char *end = strchr(p, ' ');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len == n && len > 0 && strncmp(p, word, n) == 0) return 1;
        p += len;
    }
    return 0;
}

/* ---- failure reporting ---------------------------------------------------------------- */

struct scenario {
    const char *name;
    int failures;
    int step;      /* index of the step being run, -1 before the steps */
    const char *op;
};

static void fail(struct scenario *sc, const char *fmt, ...) {
    va_list ap;
    sc->failures++;
    if (sc->step >= 0)
        fprintf(stderr, "%s steps[%d] (%s): ", sc->name, sc->step, sc->op);
    else
        fprintf(stderr, "%s: ", sc->name);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

/* ---- checking the shape of a scenario ------------------------------------------------- */

static const struct op_spec *find_op(const char *op) {
    for (size_t i = 0; i < sizeof OPS / sizeof OPS[0]; i++)
        if (strcmp(OPS[i].op, op) == 0) return &OPS[i];
    return NULL;
}

static int check_one_of(struct scenario *sc, json_t *step, const char *spec) {
    if (spec == NULL) return 1;
    char a[32], b[32];
    int optional = spec[strlen(spec) - 1] == '?';
    const char *bar = strchr(spec, '|');
    snprintf(a, sizeof a, "%.*s", (int)(bar - spec), spec);
    snprintf(b, sizeof b, "%.*s", (int)(strlen(bar + 1) - (optional ? 1 : 0)), bar + 1);
    int has_a = json_object_get(step, a) != NULL, has_b = json_object_get(step, b) != NULL;
    if (has_a && has_b) {
        fail(sc, "give `%s` or `%s`, not both", a, b);
        return 0;
    }
    if (!has_a && !has_b && !optional) {
        fail(sc, "needs `%s` or `%s`", a, b);
        return 0;
    }
    return 1;
}

/* Type of each argument, where it has one. */
static int check_arg_type(struct scenario *sc, const char *key, json_t *v) {
    int ok = 1;
    if (in_list("user_agent as token raw id_of raw_id key csrf raw_csrf", key))
        ok = json_is_string(v);
    else if (strcmp(key, "user") == 0)
        ok = json_is_string(v) || json_is_null(v);
    else if (strcmp(key, "https") == 0)
        ok = json_is_boolean(v);
    else if (strcmp(key, "data") == 0)
        ok = json_is_object(v);
    else if (in_list("ms max_age_ms", key))
        ok = json_is_integer(v) && json_integer_value(v) >= 0;
    else if (in_list("level min_level", key))
        /* Any integer: the library refuses one out of range, as the corpus may test. */
        ok = json_is_integer(v);
    else if (strcmp(key, "amr") == 0)
        ok = json_is_array(v);
    if (!ok) fail(sc, "argument `%s` has the wrong type", key);
    return ok;
}

static int check_expect_shape(struct scenario *sc, const struct op_spec *spec, json_t *expect) {
    int ok = 1;
    const char *key;
    json_t *v;
    if (!json_is_object(expect)) {
        fail(sc, "`expect` must be an object");
        return 0;
    }
    json_object_foreach(expect, key, v) {
        if (!in_list("result rotated user data same_session_as secure expires_in_ms "
                     "absolute_in_ms ended count ids_of valid events freshness auth_level "
                     "authenticated_ago_ms",
                     key)) {
            fail(sc, "unknown expectation `expect.%s`", key);
            ok = 0;
        } else if (!in_list(spec->expect, key)) {
            fail(sc, "`expect.%s` does not apply to `%s` (it can check: %s)", key, spec->op,
                 spec->expect);
            ok = 0;
        }
    }
    json_t *result = json_object_get(expect, "result");
    if (result && (!json_is_string(result) || !in_list(RESULT_CODES, json_string_value(result)))) {
        fail(sc, "`expect.result` is not a known code");
        ok = 0;
    }
    json_t *freshness = json_object_get(expect, "freshness");
    if (freshness && (!json_is_string(freshness) ||
                      !in_list("allowed anonymous stale level", json_string_value(freshness)))) {
        fail(sc, "`expect.freshness` is not allowed, anonymous, stale or level");
        ok = 0;
    }
    json_t *level = json_object_get(expect, "auth_level");
    if (level && !json_is_null(level) && !json_is_integer(level)) {
        fail(sc, "`expect.auth_level` must be an integer or null");
        ok = 0;
    }
    json_t *ago = json_object_get(expect, "authenticated_ago_ms");
    if (ago && !json_is_integer(ago)) {
        fail(sc, "`expect.authenticated_ago_ms` must be an integer");
        ok = 0;
    }
    json_t *events = json_object_get(expect, "events");
    if (events) {
        size_t i;
        json_t *e;
        if (!json_is_array(events)) {
            fail(sc, "`expect.events` must be an array");
            return 0;
        }
        json_array_foreach(events, i, e) {
            json_t *kind = json_object_get(e, "kind");
            if (!json_is_object(e) || !json_is_string(kind) ||
                !in_list(EVENT_KINDS, json_string_value(kind))) {
                fail(sc, "`expect.events[%zu].kind` is missing or not an event kind", i);
                ok = 0;
                continue;
            }
            json_object_foreach(e, key, v) {
                if (!in_list("kind reason user same_session_as", key)) {
                    fail(sc, "unknown field `expect.events[%zu].%s`", i, key);
                    ok = 0;
                }
            }
            json_t *reason = json_object_get(e, "reason");
            if (reason && !json_is_null(reason) &&
                (!json_is_string(reason) || !in_list(REASONS, json_string_value(reason)))) {
                fail(sc, "`expect.events[%zu].reason` is not a reason code", i);
                ok = 0;
            }
        }
    }
    return ok;
}

/* The whole scenario's shape; reports every problem, returns whether it can run. */
static int check_shape(struct scenario *sc, json_t *root, const char *stem) {
    int ok = 1;
    const char *key;
    json_t *v;
    if (!json_is_object(root)) {
        fail(sc, "not a JSON object");
        return 0;
    }
    json_object_foreach(root, key, v) {
        if (!in_list("name description config config_error steps", key)) {
            fail(sc, "unknown field `%s`", key);
            ok = 0;
        }
    }
    json_t *name = json_object_get(root, "name");
    if (!json_is_string(name) || strcmp(json_string_value(name), stem) != 0) {
        fail(sc, "`name` must equal the file name without .json");
        ok = 0;
    }
    json_t *description = json_object_get(root, "description");
    if (!json_is_string(description) || json_string_length(description) == 0) {
        fail(sc, "`description` is missing or empty");
        ok = 0;
    }
    json_t *config = json_object_get(root, "config");
    if (config) {
        if (!json_is_object(config)) {
            fail(sc, "`config` must be an object");
            return 0;
        }
        json_object_foreach(config, key, v) {
            if (!in_list(CONFIG_KEYS, key)) {
                fail(sc, "unknown config key `%s`", key);
                ok = 0;
            } else if (json_is_null(v) && !in_list(CONFIG_NULLABLE, key)) {
                fail(sc, "config key `%s` cannot be null", key);
                ok = 0;
            }
        }
    }
    json_t *config_error = json_object_get(root, "config_error");
    json_t *steps = json_object_get(root, "steps");
    if (config_error) {
        if (!json_is_string(config_error) || !in_list(RESULT_CODES, json_string_value(config_error)) ||
            strcmp(json_string_value(config_error), "ok") == 0) {
            fail(sc, "`config_error` is not an error code");
            ok = 0;
        }
        if (steps && json_array_size(steps) > 0) {
            fail(sc, "a config_error scenario has no steps");
            ok = 0;
        }
        return ok;
    }
    if (!json_is_array(steps) || json_array_size(steps) == 0) {
        fail(sc, "no steps");
        return 0;
    }
    size_t i;
    json_t *step;
    json_array_foreach(steps, i, step) {
        sc->step = (int)i;
        sc->op = "?";
        json_t *op = json_object_get(step, "op");
        const struct op_spec *spec = json_is_string(op) ? find_op(json_string_value(op)) : NULL;
        if (spec == NULL) {
            fail(sc, "unknown or missing op");
            ok = 0;
            continue;
        }
        sc->op = spec->op;
        json_object_foreach(step, key, v) {
            if (strcmp(key, "op") == 0) continue;
            if (strcmp(key, "expect") == 0) {
                if (spec->expect[0] == '\0') {
                    fail(sc, "`%s` takes no expectation", spec->op);
                    ok = 0;
                } else {
                    ok &= check_expect_shape(sc, spec, v);
                }
            } else if (!in_list(spec->args, key)) {
                fail(sc, "unknown argument `%s`", key);
                ok = 0;
            } else {
                ok &= check_arg_type(sc, key, v);
            }
        }
        char required[64];
        snprintf(required, sizeof required, "%s", spec->required);
        for (char *r = strtok(required, " "); r != NULL; r = strtok(NULL, " ")) {
            if (json_object_get(step, r) == NULL) {
                fail(sc, "missing argument `%s`", r);
                ok = 0;
            }
        }
        ok &= check_one_of(sc, step, spec->one_of);
        ok &= check_one_of(sc, step, spec->one_of2);
    }
    sc->step = -1;
    return ok;
}

/* ---- running ---------------------------------------------------------------------------- */

struct runner {
    struct scenario *sc;
    tessera_manager *m;
    tessera_clock *clock;
    json_t *tokens; /* name → token text */
    json_t *csrf;   /* name → CSRF token text */
    json_t *events; /* events since the last `events` step */
};

static json_t *nullable_string(const char *s) {
    return s ? json_string(s) : json_null();
}

static void on_event(void *user_data, const tessera_event *event) {
    json_t *events = user_data;
    json_array_append_new(events,
                          json_pack("{s:s, s:o, s:o, s:o}", "kind", tessera_event_kind(event),
                                    "id", nullable_string(tessera_event_id(event)), "user",
                                    nullable_string(tessera_event_user(event)), "reason",
                                    nullable_string(tessera_event_reason(event))));
}

enum outcome_kind { SESSION, FAILED, ENDED, COUNT, LIST, VALID, EVENTS, FRESHNESS, DONE };

struct outcome {
    enum outcome_kind kind;
    const char *code; /* "ok", a reason code or an error code */
    tessera_session *session;
    bool flag;     /* SESSION: rotated; ENDED: ended; VALID: valid */
    tessera_freshness freshness; /* FRESHNESS */
    size_t count;
    json_t *list;  /* LIST: the parsed list_user JSON; EVENTS: the events */
};

/* The code of a call's outcome: "ok", the rejection reason, or the error code. */
static const char *code_of(tessera_status status, tessera_reason reason) {
    if (status == TESSERA_STATUS_OK) return "ok";
    if (status == TESSERA_STATUS_REJECTED) {
        const char *r = tessera_reason_str((int)reason);
        return r ? r : "rejected (no reason)";
    }
    const char *s = tessera_status_str((int)status);
    return s ? s : "unknown status";
}

static const char *token_arg(struct runner *r, json_t *step, int *abort_run) {
    json_t *name = json_object_get(step, "token");
    if (name) {
        json_t *t = json_object_get(r->tokens, json_string_value(name));
        if (t == NULL) {
            fail(r->sc, "token name \"%s\" is not bound by an earlier `as` (rest skipped)",
                 json_string_value(name));
            *abort_run = 1;
            return NULL;
        }
        return json_string_value(t);
    }
    json_t *raw = json_object_get(step, "raw");
    return raw ? json_string_value(raw) : NULL;
}

/* The public id of a bound token name, into `out`; 0 (and the scenario aborts) if unbound. */
static int id_of(struct runner *r, const char *name, char out[TESSERA_ID_BUFFER_LEN]) {
    json_t *t = json_object_get(r->tokens, name);
    if (t == NULL) {
        fail(r->sc, "token name \"%s\" is not bound by an earlier `as`", name);
        return 0;
    }
    tessera_reason reason = TESSERA_REASON_NONE;
    if (tessera_manager_id_of(r->m, json_string_value(t), out, TESSERA_ID_BUFFER_LEN, &reason) !=
        TESSERA_STATUS_OK) {
        fail(r->sc, "token \"%s\" has no id: %s", name, tessera_last_error());
        return 0;
    }
    return 1;
}

static void bind_session(struct runner *r, json_t *step, struct outcome *o, const char *sent) {
    json_t *as = json_object_get(step, "as");
    if (as == NULL || o->kind != SESSION) return;
    bool issued = false;
    char tok[TESSERA_TOKEN_BUFFER_LEN];
    if (tessera_session_has_new_token(o->session, &issued) == TESSERA_STATUS_OK && issued &&
        tessera_session_new_token(o->session, tok, sizeof tok) == TESSERA_STATUS_OK) {
        json_object_set_new(r->tokens, json_string_value(as), json_string(tok));
    } else if (sent != NULL) {
        json_object_set_new(r->tokens, json_string_value(as), json_string(sent));
    }
}

static void session_outcome(struct outcome *o, tessera_status status, tessera_reason reason,
                            tessera_session *s) {
    o->code = code_of(status, reason);
    if (status == TESSERA_STATUS_OK) {
        o->kind = SESSION;
        o->session = s;
        tessera_session_has_new_token(s, &o->flag);
    } else {
        o->kind = FAILED;
    }
}

static char *dump(json_t *v) {
    return json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
}

/* Run one step's call; returns 0 if the scenario cannot go on. */
static int run_op(struct runner *r, json_t *step, const char *op, struct outcome *o) {
    int abort_run = 0;
    tessera_reason reason = TESSERA_REASON_NONE;
    tessera_status st;
    tessera_session *s = NULL;
    json_t *https_v = json_object_get(step, "https");
    bool https = https_v != NULL && json_is_true(https_v);
    json_t *ua_v = json_object_get(step, "user_agent");
    const char *ua = ua_v ? json_string_value(ua_v) : NULL;
    json_t *user_v = json_object_get(step, "user");
    const char *user = user_v ? json_string_value(user_v) : NULL; /* NULL for json null */
    const char *token = NULL;
    char id[TESSERA_ID_BUFFER_LEN];
    o->kind = DONE;
    o->code = "ok";

    if (strcmp(op, "create") == 0) {
        json_t *data = json_object_get(step, "data");
        char *data_json = data ? dump(data) : NULL;
        st = tessera_manager_create(r->m, user, data_json, https, ua, &s);
        free(data_json);
        session_outcome(o, st, reason, s);
        bind_session(r, step, o, NULL);
    } else if (strcmp(op, "validate") == 0 || strcmp(op, "rotate") == 0) {
        if ((token = token_arg(r, step, &abort_run)) == NULL) return 0;
        /* Keep a copy: binding may replace the string `token` points into. */
        char sent[4096];
        snprintf(sent, sizeof sent, "%s", token);
        if (op[0] == 'v')
            st = tessera_manager_validate(r->m, token, https, NULL, &s, &reason);
        else
            st = tessera_manager_rotate(r->m, token, https, NULL, &s, &reason);
        session_outcome(o, st, reason, s);
        bind_session(r, step, o, op[0] == 'v' ? sent : NULL);
    } else if (strcmp(op, "login") == 0) {
        if (json_object_get(step, "token") || json_object_get(step, "raw")) {
            if ((token = token_arg(r, step, &abort_run)) == NULL) return 0;
        }
        json_t *level = json_object_get(step, "level"), *amr = json_object_get(step, "amr");
        if (level == NULL && amr == NULL) {
            st = tessera_manager_login(r->m, token, user, https, ua, &s);
        } else {
            char *amr_json = amr ? dump(amr) : NULL;
            st = tessera_manager_login_with(r->m, token, user,
                                            level ? (int)json_integer_value(level) : 1, amr_json,
                                            https, ua, &s);
            free(amr_json);
        }
        session_outcome(o, st, reason, s);
        bind_session(r, step, o, NULL);
    } else if (strcmp(op, "reauthenticate") == 0) {
        if ((token = token_arg(r, step, &abort_run)) == NULL) return 0;
        json_t *amr = json_object_get(step, "amr");
        char *amr_json = amr ? dump(amr) : NULL;
        st = tessera_manager_reauthenticate(
            r->m, token, (int)json_integer_value(json_object_get(step, "level")), amr_json, https,
            NULL, &s, &reason);
        free(amr_json);
        session_outcome(o, st, reason, s);
        bind_session(r, step, o, NULL);
    } else if (strcmp(op, "require_recent") == 0) {
        if ((token = token_arg(r, step, &abort_run)) == NULL) return 0;
        st = tessera_manager_require_recent(
            r->m, token, NULL, https, (uint64_t)json_integer_value(json_object_get(step, "max_age_ms")),
            (int)json_integer_value(json_object_get(step, "min_level")), &o->freshness);
        o->kind = st == TESSERA_STATUS_OK ? FRESHNESS : FAILED;
        o->code = code_of(st, reason);
    } else if (strcmp(op, "logout") == 0) {
        if ((token = token_arg(r, step, &abort_run)) == NULL) return 0;
        st = tessera_manager_logout(r->m, token, &o->flag);
        o->kind = st == TESSERA_STATUS_OK ? ENDED : FAILED;
        o->code = code_of(st, reason);
    } else if (strcmp(op, "revoke") == 0) {
        json_t *name = json_object_get(step, "id_of");
        const char *hex = id;
        if (name) {
            if (!id_of(r, json_string_value(name), id)) return 0;
        } else {
            hex = json_string_value(json_object_get(step, "raw_id"));
        }
        st = tessera_manager_revoke(r->m, hex, &o->flag);
        o->kind = st == TESSERA_STATUS_OK ? ENDED : FAILED;
        o->code = code_of(st, reason);
    } else if (strcmp(op, "revoke_user") == 0 || strcmp(op, "revoke_user_except") == 0 ||
               strcmp(op, "revoke_all") == 0 || strcmp(op, "sweep") == 0 ||
               strcmp(op, "store_len") == 0) {
        if (strcmp(op, "revoke_user") == 0) {
            st = tessera_manager_revoke_user(r->m, user, &o->count);
        } else if (strcmp(op, "revoke_user_except") == 0) {
            if ((token = token_arg(r, step, &abort_run)) == NULL) return 0;
            st = tessera_manager_revoke_user_except(r->m, user, token, &o->count);
        } else if (strcmp(op, "revoke_all") == 0) {
            st = tessera_manager_revoke_all(r->m, &o->count);
        } else if (strcmp(op, "sweep") == 0) {
            st = tessera_manager_sweep(r->m, &o->count);
        } else {
            st = tessera_manager_store_len(r->m, &o->count);
        }
        o->kind = st == TESSERA_STATUS_OK ? COUNT : FAILED;
        o->code = code_of(st, reason);
    } else if (strcmp(op, "list_user") == 0) {
        char *json = NULL;
        st = tessera_manager_list_user(r->m, user, &json);
        o->code = code_of(st, reason);
        o->kind = FAILED;
        if (st == TESSERA_STATUS_OK) {
            json_error_t error;
            o->list = json_loads(json, 0, &error);
            tessera_string_free(json);
            if (!json_is_array(o->list)) {
                fail(r->sc, "list_user returned text that is not a JSON array");
                return 0;
            }
            o->kind = LIST;
            o->count = json_array_size(o->list);
        }
    } else if (strcmp(op, "set") == 0 || strcmp(op, "remove_key") == 0 ||
               strcmp(op, "replace_data") == 0) {
        if (!id_of(r, json_string_value(json_object_get(step, "token")), id)) return 0;
        const char *key = json_string_value(json_object_get(step, "key"));
        if (strcmp(op, "set") == 0) {
            char *value = dump(json_object_get(step, "value"));
            st = tessera_manager_data_set(r->m, id, key, value, &reason);
            free(value);
        } else if (strcmp(op, "remove_key") == 0) {
            st = tessera_manager_data_remove(r->m, id, key, &reason);
        } else {
            char *data = dump(json_object_get(step, "data"));
            st = tessera_manager_data_replace(r->m, id, data, &reason);
            free(data);
        }
        o->kind = st == TESSERA_STATUS_OK ? DONE : FAILED;
        o->code = code_of(st, reason);
    } else if (strcmp(op, "csrf_token") == 0) {
        if ((token = token_arg(r, step, &abort_run)) == NULL) return 0;
        char *csrf = NULL;
        st = tessera_manager_csrf_token(r->m, token, &csrf, &reason);
        json_t *as = json_object_get(step, "as");
        if (st == TESSERA_STATUS_OK && as)
            json_object_set_new(r->csrf, json_string_value(as), json_string(csrf));
        tessera_string_free(csrf);
        o->kind = st == TESSERA_STATUS_OK ? DONE : FAILED;
        o->code = code_of(st, reason);
    } else if (strcmp(op, "verify_csrf") == 0) {
        if ((token = token_arg(r, step, &abort_run)) == NULL) return 0;
        const char *candidate;
        json_t *name = json_object_get(step, "csrf");
        if (name) {
            json_t *c = json_object_get(r->csrf, json_string_value(name));
            if (c == NULL) {
                fail(r->sc, "csrf name \"%s\" is not bound by an earlier `as` (rest skipped)",
                     json_string_value(name));
                return 0;
            }
            candidate = json_string_value(c);
        } else {
            candidate = json_string_value(json_object_get(step, "raw_csrf"));
        }
        st = tessera_manager_verify_csrf(r->m, token, candidate, &o->flag);
        o->kind = st == TESSERA_STATUS_OK ? VALID : FAILED;
        o->code = code_of(st, reason);
    } else if (strcmp(op, "advance") == 0) {
        json_int_t ms = json_integer_value(json_object_get(step, "ms"));
        if (tessera_clock_advance(r->clock, (uint64_t)ms) != TESSERA_STATUS_OK) {
            fail(r->sc, "cannot advance the clock: %s", tessera_last_error());
            return 0;
        }
    } else if (strcmp(op, "events") == 0) {
        /* The listener appends to r->events: take a copy and empty it in place. */
        o->kind = EVENTS;
        o->list = json_deep_copy(r->events);
        json_array_clear(r->events);
    } else {
        fail(r->sc, "op not implemented by the C runner");
        return 0;
    }
    return !abort_run;
}

static void missing(struct runner *r, const char *field, const struct outcome *o) {
    fail(r->sc, "%s: expected, but the op gave result \"%s\" and no %s", field, o->code, field);
}

static int event_matches(struct runner *r, json_t *want, json_t *got, char *why, size_t len) {
    why[0] = '\0';
    const char *kind = json_string_value(json_object_get(want, "kind"));
    if (strcmp(kind, json_string_value(json_object_get(got, "kind"))) != 0)
        snprintf(why + strlen(why), len - strlen(why), " kind \"%s\"", kind);
    const char *fields[] = {"reason", "user"};
    for (int f = 0; f < 2; f++) {
        json_t *w = json_object_get(want, fields[f]);
        if (w && !json_equal(w, json_object_get(got, fields[f])))
            snprintf(why + strlen(why), len - strlen(why), " %s %s", fields[f],
                     json_is_null(w) ? "null" : json_string_value(w));
    }
    json_t *same = json_object_get(want, "same_session_as");
    if (same) {
        char id[TESSERA_ID_BUFFER_LEN];
        if (!id_of(r, json_string_value(same), id)) return 0;
        json_t *got_id = json_object_get(got, "id");
        if (!json_is_string(got_id) || strcmp(json_string_value(got_id), id) != 0)
            snprintf(why + strlen(why), len - strlen(why), " the id of \"%s\"",
                     json_string_value(same));
    }
    return why[0] == '\0';
}

static uint64_t clock_now(struct runner *r) {
    uint64_t now = 0;
    tessera_clock_now(r->clock, &now);
    return now;
}

static void check_expect(struct runner *r, json_t *expect, struct outcome *o) {
    json_t *v;
    char id[TESSERA_ID_BUFFER_LEN];
    tessera_session *s = o->kind == SESSION ? o->session : NULL;
    if ((v = json_object_get(expect, "result")) && strcmp(json_string_value(v), o->code) != 0)
        fail(r->sc, "result: expected \"%s\", got \"%s\"", json_string_value(v), o->code);
    if ((v = json_object_get(expect, "rotated"))) {
        if (o->kind != SESSION)
            missing(r, "rotated", o);
        else if (json_is_true(v) != o->flag)
            fail(r->sc, "rotated: expected %d, got %d", json_is_true(v), o->flag);
    }
    if ((v = json_object_get(expect, "user"))) {
        const char *user = NULL;
        if (s == NULL)
            missing(r, "user", o);
        else if (tessera_session_user(s, &user) != TESSERA_STATUS_OK)
            fail(r->sc, "user: %s", tessera_last_error());
        else if (json_is_null(v) ? user != NULL
                                 : (user == NULL || strcmp(user, json_string_value(v)) != 0))
            fail(r->sc, "user: expected %s, got %s", json_is_null(v) ? "null" : json_string_value(v),
                 user ? user : "null");
    }
    if ((v = json_object_get(expect, "data"))) {
        char *text = NULL;
        if (s == NULL) {
            missing(r, "data", o);
        } else if (tessera_session_data(s, &text) != TESSERA_STATUS_OK) {
            fail(r->sc, "data: %s", tessera_last_error());
        } else {
            json_t *got = json_loads(text, 0, NULL);
            if (!json_equal(got, v)) {
                char *want = dump(v);
                fail(r->sc, "data: expected %s, got %s", want, text);
                free(want);
            }
            json_decref(got);
            tessera_string_free(text);
        }
    }
    if ((v = json_object_get(expect, "same_session_as"))) {
        char got[TESSERA_ID_BUFFER_LEN];
        if (!id_of(r, json_string_value(v), id)) return;
        if (s == NULL)
            missing(r, "same_session_as", o);
        else if (tessera_session_id(s, got, sizeof got) != TESSERA_STATUS_OK || strcmp(got, id) != 0)
            fail(r->sc, "same_session_as: expected the id of \"%s\" (%.12s...), got %.12s...",
                 json_string_value(v), id, got);
    }
    if ((v = json_object_get(expect, "secure"))) {
        bool secure = false;
        if (s == NULL)
            missing(r, "secure", o);
        else if (tessera_session_secure(s, &secure) != TESSERA_STATUS_OK || secure != json_is_true(v))
            fail(r->sc, "secure: expected %d, got %d", json_is_true(v), secure);
    }
    const char *times[] = {"expires_in_ms", "absolute_in_ms"};
    for (int t = 0; t < 2; t++) {
        if ((v = json_object_get(expect, times[t]))) {
            uint64_t at = 0;
            if (s == NULL) {
                missing(r, times[t], o);
                continue;
            }
            tessera_status st = t == 0 ? tessera_session_expires_at(s, &at)
                                       : tessera_session_absolute_deadline(s, &at);
            long long got = (long long)(at - clock_now(r));
            if (st != TESSERA_STATUS_OK || got != json_integer_value(v))
                fail(r->sc, "%s: expected %lld, got %lld", times[t],
                     (long long)json_integer_value(v), got);
        }
    }
    if ((v = json_object_get(expect, "freshness"))) {
        if (o->kind != FRESHNESS)
            missing(r, "freshness", o);
        else if (strcmp(json_string_value(v), tessera_freshness_str((int)o->freshness)) != 0)
            fail(r->sc, "freshness: expected \"%s\", got \"%s\"", json_string_value(v),
                 tessera_freshness_str((int)o->freshness));
    }
    if ((v = json_object_get(expect, "auth_level")) || json_object_get(expect, "authenticated_ago_ms")) {
        uint64_t at = 0;
        int level = 0;
        json_t *ago = json_object_get(expect, "authenticated_ago_ms");
        if (s == NULL) {
            missing(r, v ? "auth_level" : "authenticated_ago_ms", o);
        } else if (tessera_session_authenticated(s, &at, &level, NULL) != TESSERA_STATUS_OK) {
            fail(r->sc, "authenticated: %s", tessera_last_error());
        } else {
            /* Level 0 is an anonymous session: null in the corpus. */
            if (v && (json_is_null(v) ? level != 0 : level != json_integer_value(v)))
                fail(r->sc, "auth_level: expected %lld, got %d (0: null)",
                     json_is_null(v) ? 0LL : (long long)json_integer_value(v), level);
            if (ago && level == 0)
                fail(r->sc, "authenticated_ago_ms: the session is anonymous");
            else if (ago && (long long)(clock_now(r) - at) != json_integer_value(ago))
                fail(r->sc, "authenticated_ago_ms: expected %lld, got %lld",
                     (long long)json_integer_value(ago), (long long)(clock_now(r) - at));
        }
    }
    if ((v = json_object_get(expect, "ended"))) {
        if (o->kind != ENDED)
            missing(r, "ended", o);
        else if (json_is_true(v) != o->flag)
            fail(r->sc, "ended: expected %d, got %d", json_is_true(v), o->flag);
    }
    if ((v = json_object_get(expect, "count"))) {
        if (o->kind != COUNT && o->kind != LIST)
            missing(r, "count", o);
        else if ((json_int_t)o->count != json_integer_value(v))
            fail(r->sc, "count: expected %lld, got %zu", (long long)json_integer_value(v), o->count);
    }
    if ((v = json_object_get(expect, "ids_of"))) {
        if (o->kind != LIST) {
            missing(r, "ids_of", o);
        } else {
            size_t i;
            json_t *name;
            int same = json_array_size(v) == json_array_size(o->list);
            json_array_foreach(v, i, name) {
                if (!id_of(r, json_string_value(name), id)) return;
                json_t *got = json_object_get(json_array_get(o->list, i), "id");
                if (!json_is_string(got) || strcmp(json_string_value(got), id) != 0) same = 0;
            }
            if (!same) {
                char *want = dump(v);
                fail(r->sc, "ids_of: expected the ids of %s in that order; got %zu other id(s)",
                     want, json_array_size(o->list));
                free(want);
            }
        }
    }
    if ((v = json_object_get(expect, "valid"))) {
        if (o->kind != VALID)
            missing(r, "valid", o);
        else if (json_is_true(v) != o->flag)
            fail(r->sc, "valid: expected %d, got %d", json_is_true(v), o->flag);
    }
    if ((v = json_object_get(expect, "events"))) {
        if (o->kind != EVENTS) {
            missing(r, "events", o);
        } else if (json_array_size(v) != json_array_size(o->list)) {
            char *got = dump(o->list);
            fail(r->sc, "events: expected %zu event(s), got %zu: %s", json_array_size(v),
                 json_array_size(o->list), got);
            free(got);
        } else {
            size_t i;
            json_t *want;
            json_array_foreach(v, i, want) {
                char why[256];
                json_t *got = json_array_get(o->list, i);
                if (!event_matches(r, want, got, why, sizeof why)) {
                    char *shown = dump(got);
                    fail(r->sc, "events[%zu]: expected%s, got %s", i, why, shown);
                    free(shown);
                }
            }
        }
    }
}

/* --store and --prefix: NULL for the memory store. */
static const char *store_url;
static char store_prefix[64];
/* --sqlite-dir: where each scenario's database file goes; NULL when not on SQLite. */
static const char *sqlite_dir;

/* The database file of a scenario on SQLite, with `suffix` ("", "-wal", "-shm"). */
static void sqlite_path(char *out, size_t size, const char *name, const char *suffix) {
    snprintf(out, size, "%s/%s.db%s", sqlite_dir, name, suffix);
}

/* Delete a scenario's database files: before it runs (a fresh store, even after a crashed run)
 * and after its manager is freed (nothing of it outlives the scenario). */
static void sqlite_remove(const char *name) {
    static const char *const suffixes[] = {"", "-wal", "-shm", "-journal"};
    for (size_t i = 0; i < sizeof suffixes / sizeof *suffixes; i++) {
        char path[4096];
        sqlite_path(path, sizeof path, name, suffixes[i]);
        unlink(path);
    }
}

/* Build the manager for a scenario; returns the status. */
static tessera_status build(struct runner *r, json_t *config) {
    json_t *options = config ? json_deep_copy(config) : json_object();
    json_object_set_new(options, "sweep_interval_ms", json_null());
    if (store_url != NULL) {
        char url[2048];
        snprintf(url, sizeof url, "%s%sprefix=%s-%s", store_url,
                 strchr(store_url, '?') != NULL ? "&" : "?", store_prefix, r->sc->name);
        json_object_set_new(options, "store", json_string(url));
    } else if (sqlite_dir != NULL) {
        char path[4096], url[4200];
        sqlite_remove(r->sc->name);
        sqlite_path(path, sizeof path, r->sc->name, "");
        snprintf(url, sizeof url, "sqlite://%s", path);
        json_object_set_new(options, "store", json_string(url));
    }
    char *text = json_dumps(options, JSON_COMPACT);
    json_decref(options);
    tessera_status st = tessera_manager_new(text, r->clock, &r->m);
    free(text);
    return st;
}

static void run_scenario(struct scenario *sc, json_t *root) {
    struct runner r = {sc, NULL, NULL, json_object(), json_object(), json_array()};
    if (tessera_clock_new(START_MS, &r.clock) != TESSERA_STATUS_OK) {
        fail(sc, "cannot create a clock: %s", tessera_last_error());
        goto done;
    }
    json_t *config_error = json_object_get(root, "config_error");
    tessera_status st = build(&r, json_object_get(root, "config"));
    if (config_error) {
        const char *want = json_string_value(config_error);
        if (st == TESSERA_STATUS_OK)
            fail(sc, "(building the manager) built, expected config_error \"%s\"", want);
        else if (strcmp(code_of(st, TESSERA_REASON_NONE), want) != 0)
            fail(sc, "(building the manager) failed with %s, expected config_error \"%s\"",
                 tessera_last_error(), want);
        goto done;
    }
    if (st != TESSERA_STATUS_OK) {
        fail(sc, "(building the manager) failed with %s", tessera_last_error());
        goto done;
    }
    if (tessera_manager_add_listener(r.m, on_event, r.events) != TESSERA_STATUS_OK) {
        fail(sc, "cannot add the listener: %s", tessera_last_error());
        goto done;
    }
    size_t i;
    json_t *step;
    json_array_foreach(json_object_get(root, "steps"), i, step) {
        sc->step = (int)i;
        sc->op = json_string_value(json_object_get(step, "op"));
        struct outcome o = {DONE, "ok", NULL, false, TESSERA_FRESHNESS_ALLOWED, 0, NULL};
        int go_on = run_op(&r, step, sc->op, &o);
        json_t *expect = json_object_get(step, "expect");
        if (go_on && expect) check_expect(&r, expect, &o);
        tessera_session_free(o.session);
        json_decref(o.list);
        if (!go_on) break;
    }
    sc->step = -1;
done:
    tessera_manager_free(r.m);
    if (sqlite_dir != NULL) sqlite_remove(sc->name);
    tessera_clock_free(r.clock);
    json_decref(r.tokens);
    json_decref(r.csrf);
    json_decref(r.events);
}

static int by_name(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int main(int argc, char **argv) {
    snprintf(store_prefix, sizeof store_prefix, "c-conf-%ld", (long)getpid());
    int arg = 1;
    while (arg + 1 < argc && strncmp(argv[arg], "--", 2) == 0) {
        if (strcmp(argv[arg], "--store") == 0) {
            store_url = argv[arg + 1];
        } else if (strcmp(argv[arg], "--prefix") == 0) {
            snprintf(store_prefix, sizeof store_prefix, "%s", argv[arg + 1]);
        } else if (strcmp(argv[arg], "--sqlite-dir") == 0) {
            sqlite_dir = argv[arg + 1];
        } else {
            break;
        }
        arg += 2;
    }
    /* One store only; the SQLite directory absolute, so the URL is sqlite:///abs/path.db. */
    if ((arg < argc && strncmp(argv[arg], "--", 2) == 0) ||
        (sqlite_dir != NULL && (store_url != NULL || sqlite_dir[0] != '/'))) {
        fprintf(stderr, "usage: conformance [--store URL [--prefix P] | --sqlite-dir /ABS/DIR] "
                        "[DIR [MIN_SCENARIOS]]\n");
        printf("0 passed, 1 failed\n");
        return 1;
    }
    const char *dir = arg < argc ? argv[arg] : "tests/conformance";
    size_t min_scenarios = arg + 1 < argc ? (size_t)strtoul(argv[arg + 1], NULL, 10) : MIN_SCENARIOS;
    DIR *d = opendir(dir);
    if (d == NULL) {
        fprintf(stderr, "cannot list %s\n", dir);
        printf("0 passed, 1 failed\n");
        return 1;
    }
    char **files = NULL;
    size_t n = 0;
    struct dirent *entry;
    while ((entry = readdir(d)) != NULL) {
        size_t len = strlen(entry->d_name);
        if (len > 5 && strcmp(entry->d_name + len - 5, ".json") == 0) {
            files = realloc(files, (n + 1) * sizeof *files);
            files[n++] = strdup(entry->d_name);
        }
    }
    closedir(d);
    if (n > 0) qsort(files, n, sizeof *files, by_name);

    int passed = 0, failed = 0, steps = 0;
    for (size_t f = 0; f < n; f++) {
        char path[4096], stem[256];
        snprintf(path, sizeof path, "%s/%s", dir, files[f]);
        snprintf(stem, sizeof stem, "%.*s", (int)(strlen(files[f]) - 5), files[f]);
        struct scenario sc = {stem, 0, -1, NULL};
        json_error_t error;
        json_t *root = json_load_file(path, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &error);
        if (root == NULL)
            fail(&sc, "cannot be parsed: %s (line %d)", error.text, error.line);
        else if (check_shape(&sc, root, stem)) {
            steps += (int)json_array_size(json_object_get(root, "steps"));
            run_scenario(&sc, root);
        }
        json_decref(root);
        if (sc.failures == 0)
            passed++;
        else
            failed++;
        free(files[f]);
    }
    free(files);
    if (n < min_scenarios) {
        fprintf(stderr, "only %zu scenario files in %s; the corpus must have at least %zu\n", n, dir,
                min_scenarios);
        failed++;
    }
    fprintf(stderr, "conformance (C): %zu scenario files, %d steps run, on %s\n", n, steps,
            store_url != NULL    ? "the --store URL"
            : sqlite_dir != NULL ? "SQLite (a database file per scenario)"
                                 : "the memory store");
    printf("%d passed, %d failed\n", passed, failed);
    return failed == 0 ? 0 : 1;
}
