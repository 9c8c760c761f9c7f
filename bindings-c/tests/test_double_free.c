/*
 * test_double_free.c: every *_free is safe to call twice with the same pointer, even by several
 * threads at once. Each round makes a manager (every fourth with its background sweeper
 * running), a clock, sessions, returned strings, a request and a response; then THREADS
 * threads, released together by a barrier, each free every one of them, in orders that differ
 * from thread to thread. For every handle exactly one call must free it and every other must be
 * a no-op that reports "not a live handle" in the calling thread's tessera_last_error().
 * valgrind and ASan (the suite runs this program under both) see to it that nothing is freed
 * twice or leaked.
 *
 * How a thread tells which of its calls freed: *_free returns nothing and a successful call
 * leaves the last-error message alone, so before each free the thread sets its message to a
 * known one (a deliberate failing call); a free that finds the handle already gone replaces it.
 *
 * The first IN_STORAGE sessions of each round live in caller storage
 * (tessera_manager_validate_in into a static tessera_session_storage, reused every round): their
 * racing frees must behave the same, and never hand the caller's memory to the handle pool.
 *
 * TESSERA_TEST_ROUNDS sets the number of rounds (default 300).
 */
#define _POSIX_C_SOURCE 200809L

#include <pthread.h>
#include <stdint.h>

#include "check.h"

#define THREADS 4
#define SESSIONS 6
#define IN_STORAGE 2 /* of the SESSIONS, built in caller storage */
#define STRINGS 6
/* manager, clock, sessions, strings, a request, a response */
#define HANDLES (2 + SESSIONS + STRINGS + 2)
#define REQUEST (2 + SESSIONS + STRINGS)
#define RESPONSE (REQUEST + 1)

static const char *NOT_LIVE = "is not a live handle";

static tessera_session_storage session_storage[IN_STORAGE];

static struct {
    tessera_manager *manager;
    tessera_clock *clock;
    tessera_session *sessions[SESSIONS];
    char *strings[STRINGS];
    tessera_request *request;   /* begun, never finished */
    tessera_response *response; /* from a finished request */
} round_handles;

/* For each handle of the round: how many calls freed it, and how many were no-ops. */
static atomic_int freed[HANDLES];
static atomic_int no_ops[HANDLES];
static atomic_int unexplained; /* calls whose last error was neither */
static pthread_barrier_t start_line, finish_line;
static int rounds = 300;

/* Set this thread's last error to a known message. */
static const char *set_sentinel(void) {
    uint64_t now = 0;
    tessera_clock_now(NULL, &now);
    return tessera_last_error();
}

static void free_handle(int h) {
    char sentinel[128];
    snprintf(sentinel, sizeof sentinel, "%s", set_sentinel());
    if (h == 0)
        tessera_manager_free(round_handles.manager);
    else if (h == 1)
        tessera_clock_free(round_handles.clock);
    else if (h < 2 + SESSIONS)
        tessera_session_free(round_handles.sessions[h - 2]);
    else if (h < REQUEST)
        tessera_string_free(round_handles.strings[h - 2 - SESSIONS]);
    else if (h == REQUEST)
        tessera_request_free(round_handles.request);
    else
        tessera_response_free(round_handles.response);
    const char *after = tessera_last_error();
    if (strcmp(after, sentinel) == 0)
        atomic_fetch_add(&freed[h], 1);
    else if (strncmp(after, "invalid_argument: ", 18) == 0 && strstr(after, NOT_LIVE) != NULL)
        atomic_fetch_add(&no_ops[h], 1);
    else {
        atomic_fetch_add(&unexplained, 1);
        fprintf(stderr, "handle %d: unexpected last error after a free: %s\n", h, after);
    }
}

static void *racer(void *arg) {
    int index = (int)(intptr_t)arg;
    for (int r = 0; r < rounds; r++) {
        pthread_barrier_wait(&start_line);
        /* Each thread starts at a different handle and half of them walk backwards, so every
         * handle is raced for by threads arriving in different orders. */
        for (int i = 0; i < HANDLES; i++) {
            int step = (index % 2 == 0) ? i : HANDLES - 1 - i;
            free_handle((step + index * (r + 1)) % HANDLES);
        }
        pthread_barrier_wait(&finish_line);
    }
    return NULL;
}

static void make_round(int r) {
    const char *options = r % 4 == 0 ? "{\"sweep_interval_ms\": 1}" : "{\"sweep_interval_ms\": null}";
    CHECK_OK(tessera_clock_new(1700000000000ULL, &round_handles.clock));
    CHECK_OK(tessera_manager_new(options, round_handles.clock, &round_handles.manager));
    for (int i = 0; i < SESSIONS; i++) {
        CHECK_OK(tessera_manager_create(round_handles.manager, i % 2 ? "racer" : NULL,
                                        "{\"n\": 1}", true, "racer", &round_handles.sessions[i]));
        if (i < IN_STORAGE) {
            /* Validated again into caller storage; the handle create made is freed. */
            char token[TESSERA_TOKEN_BUFFER_LEN];
            tessera_session *made = round_handles.sessions[i];
            CHECK_OK(tessera_session_new_token(made, token, sizeof token));
            tessera_session_free(made);
            tessera_session_storage *storage = &session_storage[i];
            CHECK_OK(tessera_manager_validate_in(round_handles.manager, token, true,
                                                 TESSERA_FIELDS_ALL, storage,
                                                 &round_handles.sessions[i], NULL));
            CHECK(round_handles.sessions[i] == (tessera_session *)(void *)storage);
        }
    }
    for (int i = 0; i < STRINGS; i++) {
        tessera_session *s = round_handles.sessions[i % SESSIONS];
        switch (i % 3) {
        case 0: CHECK_OK(tessera_session_data(s, &round_handles.strings[i])); break;
        case 1: CHECK_OK(tessera_session_csrf_token(s, &round_handles.strings[i])); break;
        default:
            CHECK_OK(tessera_manager_set_cookie_for_session(round_handles.manager, s,
                                                            &round_handles.strings[i]));
        }
    }
    /* A request left unfinished, and the response of one that logged a user in (its Set-Cookie
     * value holds a token, zeroed by the one free that wins). */
    CHECK_OK(tessera_request_begin(round_handles.manager, NULL, true, "GET", NULL, NULL,
                                   &round_handles.request));
    tessera_request *finished = NULL;
    CHECK_OK(tessera_request_begin(round_handles.manager, NULL, true, "POST", NULL, NULL,
                                   &finished));
    CHECK_OK(tessera_request_finish(finished, round_handles.manager, NULL, TESSERA_AUTH_LOGGED_IN,
                                    "racer", false, TESSERA_EXPIRY_NONE, 0, false, false,
                                    &round_handles.response));
    for (int h = 0; h < HANDLES; h++) {
        atomic_store(&freed[h], 0);
        atomic_store(&no_ops[h], 0);
    }
}

static void check_round(int r) {
    for (int h = 0; h < HANDLES; h++) {
        int f = atomic_load(&freed[h]), n = atomic_load(&no_ops[h]);
        if (f != 1 || n != THREADS - 1)
            fprintf(stderr, "round %d, handle %d: freed by %d calls, %d no-ops\n", r, h, f, n);
        CHECK(f == 1 && n == THREADS - 1);
    }
}

/* One thread, one handle of each kind, freed again and again. */
static void test_sequential_double_frees(void) {
    tessera_clock *c = NULL;
    tessera_manager *m = NULL;
    tessera_session *s = NULL;
    char *text = NULL;
    CHECK_OK(tessera_clock_new(0, &c));
    CHECK_OK(tessera_manager_new("{\"sweep_interval_ms\": null}", c, &m));
    CHECK_OK(tessera_manager_create(m, "twice", NULL, false, NULL, &s));
    CHECK_OK(tessera_manager_clear_cookie(m, &text));
    tessera_request *request = NULL, *finished = NULL;
    tessera_response *response = NULL;
    CHECK_OK(tessera_request_begin(m, NULL, false, "GET", NULL, NULL, &request));
    CHECK_OK(tessera_request_begin(m, NULL, false, "GET", NULL, NULL, &finished));
    CHECK_OK(tessera_request_finish(finished, m, "{}", TESSERA_AUTH_UNCHANGED, NULL, false,
                                    TESSERA_EXPIRY_NONE, 0, false, false, &response));
    tessera_request_free(request);
    tessera_response_free(response);
    tessera_string_free(text);
    tessera_session_free(s);
    tessera_clock_free(c);
    for (int again = 0; again < 3; again++) {
        set_sentinel();
        tessera_string_free(text);
        CHECK_STR(tessera_last_error(), "invalid_argument: string is not a live handle: already "
                                        "freed (or never returned by Tessera); nothing was freed");
        set_sentinel();
        tessera_session_free(s);
        CHECK(strstr(tessera_last_error(), "session is not a live handle") != NULL);
        set_sentinel();
        tessera_clock_free(c);
        CHECK(strstr(tessera_last_error(), "clock is not a live handle") != NULL);
        set_sentinel();
        tessera_request_free(request);
        CHECK(strstr(tessera_last_error(), "request is not a live handle") != NULL);
        set_sentinel();
        tessera_request_free(finished); /* finish consumed it */
        CHECK(strstr(tessera_last_error(), "request is not a live handle") != NULL);
        set_sentinel();
        tessera_response_free(response);
        CHECK(strstr(tessera_last_error(), "response is not a live handle") != NULL);
    }
    /* the manager still works after the double frees of things it made */
    tessera_session *again = NULL;
    CHECK_OK(tessera_manager_create(m, "twice", NULL, false, NULL, &again));
    tessera_session_free(again);
    tessera_manager_free(m);
    set_sentinel();
    tessera_manager_free(m);
    CHECK(strstr(tessera_last_error(), "manager is not a live handle") != NULL);
}

int main(void) {
    const char *env = getenv("TESSERA_TEST_ROUNDS");
    if (env != NULL && atoi(env) > 0) rounds = atoi(env);

    test_sequential_double_frees();

    CHECK(pthread_barrier_init(&start_line, NULL, THREADS + 1) == 0);
    CHECK(pthread_barrier_init(&finish_line, NULL, THREADS + 1) == 0);
    pthread_t threads[THREADS];
    for (int i = 0; i < THREADS; i++)
        CHECK(pthread_create(&threads[i], NULL, racer, (void *)(intptr_t)i) == 0);
    for (int r = 0; r < rounds; r++) {
        make_round(r);
        pthread_barrier_wait(&start_line);
        pthread_barrier_wait(&finish_line);
        check_round(r);
    }
    for (int i = 0; i < THREADS; i++) CHECK(pthread_join(threads[i], NULL) == 0);
    pthread_barrier_destroy(&start_line);
    pthread_barrier_destroy(&finish_line);
    CHECK(atomic_load(&unexplained) == 0);
    fprintf(stderr, "%d rounds: %d threads raced to free %d handles each round\n", rounds, THREADS,
            HANDLES);
    return check_summary();
}
