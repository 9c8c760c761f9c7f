/*
 * A chaos client in C (tests/src/bin/redis_chaos.rs starts it): 16 threads validate the tokens
 * the run hands over, through the C ABI on the run's Redis, until stdin closes; then one JSON
 * line of tallies on stdout. Never prints a token.
 *
 *   client STORE_URL TOKENS_TXT < pipe     (lines "live TOKEN USER" and "ended TOKEN")
 */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tessera.h"

#define THREADS 16
#define MAX_TOKENS 4096

static tessera_manager *manager;
static char *live_token[MAX_TOKENS], *live_user[MAX_TOKENS], *ended_token[MAX_TOKENS];
static size_t live_count, ended_count;
static atomic_bool stop;
static atomic_long answers, right_answers, unavailable, wrong;
static atomic_long slowest_failure_us;

static long now_us(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1000000L + t.tv_nsec / 1000;
}

static void note_failure(long began) {
    long took = now_us() - began, seen = atomic_load(&slowest_failure_us);
    while (took > seen && !atomic_compare_exchange_weak(&slowest_failure_us, &seen, took)) {
    }
    atomic_fetch_add(&unavailable, 1);
}

static void *client(void *arg) {
    size_t n = (size_t)(intptr_t)arg;
    while (!atomic_load(&stop)) {
        n += THREADS;
        long began = now_us();
        tessera_session *s = NULL;
        tessera_reason reason = TESSERA_REASON_NONE;
        if (n % 10 == 0) {
            tessera_status st = tessera_manager_validate(manager, ended_token[n / 10 % ended_count],
                                                         true, NULL, &s, &reason);
            if (st == TESSERA_STATUS_REJECTED) atomic_fetch_add(&right_answers, 1);
            else if (st == TESSERA_STATUS_STORE_UNAVAILABLE) note_failure(began);
            else {
                atomic_fetch_add(&wrong, 1);
                fprintf(stderr, "chaos client (C): a signed-out token gave %s\n",
                        tessera_status_str((int)st));
            }
        } else {
            size_t i = n % live_count;
            tessera_status st =
                tessera_manager_validate(manager, live_token[i], true, NULL, &s, &reason);
            if (st == TESSERA_STATUS_OK) {
                const char *user = NULL;
                if (tessera_session_user(s, &user) == TESSERA_STATUS_OK && user != NULL &&
                    strcmp(user, live_user[i]) == 0)
                    atomic_fetch_add(&right_answers, 1);
                else {
                    atomic_fetch_add(&wrong, 1);
                    fprintf(stderr, "chaos client (C): a token of %s validated as another user\n",
                            live_user[i]);
                }
            } else if (st == TESSERA_STATUS_STORE_UNAVAILABLE) {
                note_failure(began);
            } else {
                atomic_fetch_add(&wrong, 1);
                fprintf(stderr, "chaos client (C): a live session of %s gave %s\n", live_user[i],
                        tessera_status_str((int)st));
            }
        }
        tessera_session_free(s);
        atomic_fetch_add(&answers, 1);
    }
    return NULL;
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: client STORE_URL TOKENS_TXT < pipe\n");
        return 2;
    }
    FILE *f = fopen(argv[2], "r");
    if (f == NULL) return 2;
    char kind[8], token[256], user[128];
    while (fscanf(f, "%7s %255s", kind, token) == 2) {
        if (strcmp(kind, "live") == 0 && live_count < MAX_TOKENS &&
            fscanf(f, "%127s", user) == 1) {
            live_token[live_count] = strdup(token);
            live_user[live_count++] = strdup(user);
        } else if (strcmp(kind, "ended") == 0 && ended_count < MAX_TOKENS) {
            ended_token[ended_count++] = strdup(token);
        }
    }
    fclose(f);
    if (live_count == 0 || ended_count == 0) return 2;
    char options[1024];
    snprintf(options, sizeof options, "{\"store\": \"%s\", \"sweep_interval_ms\": null}", argv[1]);
    if (tessera_manager_new(options, NULL, &manager) != TESSERA_STATUS_OK) {
        fprintf(stderr, "chaos client (C): %s\n", tessera_last_error());
        return 1;
    }
    pthread_t threads[THREADS];
    for (intptr_t i = 0; i < THREADS; i++) pthread_create(&threads[i], NULL, client, (void *)i);
    printf("ready\n");
    fflush(stdout);
    while (getchar() != EOF) { /* the run closes our stdin to stop us */
    }
    atomic_store(&stop, true);
    for (int i = 0; i < THREADS; i++) pthread_join(threads[i], NULL);
    tessera_manager_free(manager);
    for (size_t i = 0; i < live_count; i++) {
        free(live_token[i]);
        free(live_user[i]);
    }
    for (size_t i = 0; i < ended_count; i++) free(ended_token[i]);
    printf("{\"language\": \"C\", \"answers\": %ld, \"right\": %ld, \"unavailable\": %ld, "
           "\"wrong\": %ld, \"slowest_failure_ms\": %.1f, \"wrong_examples\": []}\n",
           atomic_load(&answers), atomic_load(&right_answers), atomic_load(&unavailable),
           atomic_load(&wrong), (double)atomic_load(&slowest_failure_us) / 1000.0);
    return 0;
}
