/*
 * clean_exit.c: a correct program that frees everything it was given must leave nothing a leak
 * checker counts — run under plain `valgrind --leak-check=full --error-exitcode=1` (its default
 * leak kinds: definite AND possible), with no suppression file. Issue 11: such a program once
 * failed with "possibly lost: 52 bytes", the hash table of the registry of live handles, which
 * a leak checker reaches only through a pointer into its middle (src/handles.rs).
 *
 * It makes a manager with the defaults (a background sweeper thread) on the store given as
 * argv[1] (memory:// when absent), a session, validates it, has a token refused (which leaves a
 * last-error message in thread-local storage), takes strings, runs one HTTP request through the
 * request protocol, does the same from a second thread that then exits, and frees it all.
 *
 * Usage: clean_exit [STORE_URL]
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "check.h"

static tessera_manager *manager;

static void *one_request(void *arg) {
    (void)arg;
    tessera_request *r = NULL;
    CHECK_OK(tessera_request_begin(manager, "session=not-a-token", true, "GET", "clean/1", NULL,
                                   &r));
    tessera_response *resp = NULL;
    CHECK_OK(tessera_request_finish(r, manager, "{\"n\": 1}", TESSERA_AUTH_UNCHANGED, NULL, false,
                                    TESSERA_EXPIRY_NONE, 0, false, false, &resp));
    size_t count = 0;
    CHECK_OK(tessera_response_header_count(resp, &count));
    CHECK(count >= 1); /* the first write makes a session: Set-Cookie */
    tessera_response_free(resp);
    tessera_session *s = NULL;
    tessera_reason reason = TESSERA_REASON_NONE;
    CHECK_STATUS(tessera_manager_validate(manager, "nope", true, NULL, &s, &reason),
                 TESSERA_STATUS_REJECTED);
    return NULL;
}

int main(int argc, char **argv) {
    char options[512];
    snprintf(options, sizeof options, "{\"store\": \"%s\", \"pepper\": \"%s\"}",
             argc > 1 ? argv[1] : "memory://", "clean-exit-pepper-0123456789abcdef");
    CHECK_OK(tessera_manager_new(options, NULL, &manager));

    tessera_session *s = NULL;
    CHECK_OK(tessera_manager_create(manager, "alice", "{\"cart\": 3}", true, "clean/1", &s));
    char token[TESSERA_TOKEN_BUFFER_LEN] = "";
    CHECK_OK(tessera_session_new_token(s, token, sizeof token));
    char *set_cookie = NULL;
    CHECK_OK(tessera_manager_set_cookie_for_session(manager, s, &set_cookie));
    tessera_string_free(set_cookie);
    tessera_session_free(s);

    tessera_session *v = NULL;
    tessera_reason reason = TESSERA_REASON_NONE;
    CHECK_OK(tessera_manager_validate(manager, token, true, "clean/1", &v, &reason));
    char *data = NULL;
    CHECK_OK(tessera_session_data(v, &data));
    CHECK_STR(data, "{\"cart\":3}");
    tessera_string_free(data);
    tessera_session_free(v);
    char *csrf = NULL;
    CHECK_OK(tessera_manager_csrf_token(manager, token, &csrf, &reason));
    tessera_string_free(csrf);
    CHECK_STATUS(tessera_manager_validate(manager, "forged", true, NULL, &v, &reason),
                 TESSERA_STATUS_REJECTED);

    pthread_t thread;
    CHECK(pthread_create(&thread, NULL, one_request, NULL) == 0);
    CHECK(pthread_join(thread, NULL) == 0);

    bool ended = false;
    CHECK_OK(tessera_manager_logout(manager, token, &ended));
    CHECK(ended);
    tessera_manager_free(manager);
    return check_summary();
}
