/*
 * test_threads.c: one manager hammered from several threads at once. Each worker runs whole
 * lifecycles (create, validate, data, rotate, CSRF, login, list, logout) for its own user and
 * checks every outcome; others validate one shared session; a chaos thread sweeps, lists and
 * revokes; the background sweeper runs every few milliseconds; a listener counts events from all
 * of them. The last-error message must stay per thread throughout.
 *
 * TESSERA_TEST_ITERATIONS sets the iterations per worker (fewer under valgrind).
 */
#include <pthread.h>
#include <stdint.h>

#include "check.h"

#define WORKERS 6
#define READERS 2

static tessera_manager *manager;
static atomic_long events_seen;
static atomic_int workers_done;
static int iterations = 1500;
static char shared_token[TESSERA_TOKEN_BUFFER_LEN];

static void count_event(void *user_data, const tessera_event *event) {
    atomic_long *counter = user_data;
    if (tessera_event_kind(event) != NULL) atomic_fetch_add(counter, 1);
}

static void take_token(tessera_session *s, char out[TESSERA_TOKEN_BUFFER_LEN]) {
    CHECK_OK(tessera_session_new_token(s, out, TESSERA_TOKEN_BUFFER_LEN));
    tessera_session_free(s);
}

static void expect_unknown(const char *token) {
    tessera_session *s = NULL;
    tessera_reason reason = TESSERA_REASON_NONE;
    CHECK_STATUS(tessera_manager_validate(manager, token, false, NULL, &s, &reason),
                 TESSERA_STATUS_REJECTED);
    CHECK(reason == TESSERA_REASON_UNKNOWN && s == NULL);
}

static void *worker(void *arg) {
    int index = (int)(intptr_t)arg;
    char user[32], value[32], id[TESSERA_ID_BUFFER_LEN];
    char t1[TESSERA_TOKEN_BUFFER_LEN], t2[TESSERA_TOKEN_BUFFER_LEN], t3[TESSERA_TOKEN_BUFFER_LEN];
    snprintf(user, sizeof user, "user-%d", index);
    for (int i = 0; i < iterations; i++) {
        tessera_session *s = NULL;
        tessera_reason reason = TESSERA_REASON_NONE;
        CHECK_OK(tessera_manager_create(manager, NULL, "{\"n\": 0}", false, "hammer", &s));
        CHECK_OK(tessera_session_id(s, id, sizeof id));
        take_token(s, t1);

        snprintf(value, sizeof value, "%d", i);
        CHECK_OK(tessera_manager_data_set(manager, id, "n", value, &reason));
        CHECK_OK(tessera_manager_validate(manager, t1, false, NULL, &s, &reason));
        char *n = NULL;
        CHECK_OK(tessera_session_get(s, "n", &n));
        CHECK(n != NULL && strcmp(n, value) == 0);
        tessera_string_free(n);
        tessera_session_free(s);

        CHECK_OK(tessera_manager_rotate(manager, t1, false, NULL, &s, &reason));
        take_token(s, t2);
        CHECK_OK(tessera_manager_validate(manager, t1, false, NULL, &s, &reason)); /* alias */
        tessera_session_free(s);

        char *csrf = NULL;
        bool valid = false;
        CHECK_OK(tessera_manager_csrf_token(manager, t2, &csrf, &reason));
        CHECK_OK(tessera_manager_verify_csrf(manager, t2, csrf, &valid));
        CHECK(valid);
        tessera_string_free(csrf);

        CHECK_OK(tessera_manager_login(manager, t2, user, false, NULL, &s));
        const char *who = NULL;
        CHECK_OK(tessera_session_user(s, &who));
        CHECK(who != NULL && strcmp(who, user) == 0);
        take_token(s, t3);
        expect_unknown(t2);

        if (i % 16 == 0) {
            char *list = NULL;
            CHECK_OK(tessera_manager_list_user(manager, user, &list));
            CHECK(list != NULL && list[0] == '[');
            tessera_string_free(list);
            size_t count = 0;
            CHECK_OK(tessera_manager_revoke_user_except(manager, user, t3, &count));
        }

        /* this thread's own failure, and only it, is in its last-error message */
        CHECK_STATUS(tessera_manager_validate(manager, NULL, false, NULL, &s, &reason),
                     TESSERA_STATUS_INVALID_ARGUMENT);
        CHECK(strcmp(tessera_last_error(), "invalid_argument: token must not be NULL") == 0);

        bool ended = false;
        CHECK_OK(tessera_manager_logout(manager, t3, &ended));
        CHECK(ended);
        expect_unknown(t3);
        CHECK(strncmp(tessera_last_error(), "unknown: ", 9) == 0);
    }
    atomic_fetch_add(&workers_done, 1);
    return NULL;
}

/* Validate one shared session over and over: the hot read path, contended. */
static void *reader(void *arg) {
    (void)arg;
    for (int i = 0; i < iterations * 4; i++) {
        tessera_session *s = NULL;
        tessera_reason reason = TESSERA_REASON_NONE;
        CHECK_OK(tessera_manager_validate(manager, shared_token, false, NULL, &s, &reason));
        const char *who = NULL;
        CHECK_OK(tessera_session_user(s, &who));
        CHECK(who != NULL && strcmp(who, "shared") == 0);
        tessera_session_free(s);
    }
    return NULL;
}

/* Administrative calls racing with the workers. */
static void *chaos(void *arg) {
    (void)arg;
    while (atomic_load(&workers_done) < WORKERS) {
        size_t count = 0;
        CHECK_OK(tessera_manager_sweep(manager, &count));
        CHECK_OK(tessera_manager_store_len(manager, &count));
        CHECK_OK(tessera_manager_revoke_user(manager, "nobody", &count));
        CHECK(count == 0);
        tessera_session *s = NULL;
        CHECK_OK(tessera_manager_create(manager, "chaos", NULL, true, NULL, &s));
        char id[TESSERA_ID_BUFFER_LEN];
        CHECK_OK(tessera_session_id(s, id, sizeof id));
        tessera_session_free(s);
        bool ended = false;
        CHECK_OK(tessera_manager_revoke(manager, id, &ended));
        CHECK(ended);
        char *list = NULL;
        CHECK_OK(tessera_manager_list_user(manager, "user-0", &list));
        tessera_string_free(list);
    }
    return NULL;
}

int main(void) {
    const char *env = getenv("TESSERA_TEST_ITERATIONS");
    if (env != NULL && atoi(env) > 0) iterations = atoi(env);

    CHECK_OK(tessera_manager_new("{\"sweep_interval_ms\": 5, \"store\": \"memory://?shards=4\"}",
                                 NULL, &manager));
    CHECK_OK(tessera_manager_add_listener(manager, count_event, &events_seen));
    tessera_session *s = NULL;
    CHECK_OK(tessera_manager_login(manager, NULL, "shared", false, NULL, &s));
    take_token(s, shared_token);

    pthread_t threads[WORKERS + READERS + 1];
    int n = 0;
    for (int i = 0; i < WORKERS; i++)
        CHECK(pthread_create(&threads[n++], NULL, worker, (void *)(intptr_t)i) == 0);
    for (int i = 0; i < READERS; i++) CHECK(pthread_create(&threads[n++], NULL, reader, NULL) == 0);
    CHECK(pthread_create(&threads[n++], NULL, chaos, NULL) == 0);
    for (int i = 0; i < n; i++) CHECK(pthread_join(threads[i], NULL) == 0);

    /* every worker's sessions ended; only the shared one is left */
    size_t count = 0;
    CHECK_OK(tessera_manager_sweep(manager, &count));
    CHECK_OK(tessera_manager_store_len(manager, &count));
    CHECK(count == 1);
    CHECK_OK(tessera_manager_revoke_all(manager, &count));
    CHECK(count == 1);
    /* created + rotated + login + logout + rejected per iteration at least */
    CHECK(atomic_load(&events_seen) >= (long)WORKERS * iterations * 5);
    tessera_manager_free(manager);
    return check_summary();
}
