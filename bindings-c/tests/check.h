/*
 * check.h: the few assertions the C tests share. Each program ends with check_summary(), which
 * prints the final line "N passed, N failed" and gives the exit status. Counters are atomic so
 * threads may check concurrently. It brings in verbose.h: TESSERA_TEST_VERBOSE=1 prints every
 * event and every failing call's tessera_last_error().
 */
#ifndef TESSERA_CHECK_H
#define TESSERA_CHECK_H

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tessera.h"
#include "verbose.h" /* TESSERA_TEST_VERBOSE, TESSERA_TEST_TOKENS_FILE */

static atomic_int check_passed;
static atomic_int check_failed;

static inline void check_report(int ok, const char *file, int line, const char *what) {
    if (ok) {
        atomic_fetch_add(&check_passed, 1);
    } else {
        atomic_fetch_add(&check_failed, 1);
        fprintf(stderr, "%s:%d: check failed: %s\n", file, line, what);
    }
}

#define CHECK(cond) check_report((cond) ? 1 : 0, __FILE__, __LINE__, #cond)

/* A call must return the expected status; on a mismatch, say what it returned and why. */
#define CHECK_STATUS(call, want)                                                             \
    do {                                                                                     \
        tessera_status check_got_ = (call);                                                  \
        if (check_got_ == (want)) {                                                          \
            atomic_fetch_add(&check_passed, 1);                                              \
        } else {                                                                             \
            atomic_fetch_add(&check_failed, 1);                                              \
            fprintf(stderr, "%s:%d: %s\n  returned %s, expected %s (last error: %s)\n",      \
                    __FILE__, __LINE__, #call, tessera_status_str((int)check_got_),          \
                    tessera_status_str((int)(want)), tessera_last_error());                  \
        }                                                                                    \
    } while (0)

#define CHECK_OK(call) CHECK_STATUS(call, TESSERA_STATUS_OK)

/* Two C strings are equal (NULL only equals NULL). */
#define CHECK_STR(got, want)                                                                 \
    do {                                                                                     \
        const char *check_g_ = (got), *check_w_ = (want);                                    \
        int check_eq_ = (check_g_ == NULL || check_w_ == NULL) ? check_g_ == check_w_        \
                                                               : strcmp(check_g_, check_w_) == 0; \
        check_report(check_eq_, __FILE__, __LINE__, #got " == " #want);                      \
        if (!check_eq_)                                                                      \
            fprintf(stderr, "  got \"%s\", expected \"%s\"\n", check_g_ ? check_g_ : "(null)", \
                    check_w_ ? check_w_ : "(null)");                                         \
    } while (0)

static inline int check_summary(void) {
    int passed = atomic_load(&check_passed), failed = atomic_load(&check_failed);
    printf("%d passed, %d failed\n", passed, failed);
    fflush(stdout);
    return failed == 0 && passed > 0 ? 0 : 1;
}

#endif
