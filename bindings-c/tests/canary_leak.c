/*
 * canary_leak.c: leaks one handle on purpose. tests/run.sh runs it under valgrind and under
 * LeakSanitizer, once per kind of handle, and requires every run to FAIL, proving that the leak
 * checks of the suite are live — including for the handles Tessera records in its registry of
 * live handles (which must not make a leaked handle look reachable).
 *
 * Usage: canary_leak [session|manager|clock|string|request|response]   (default: session)
 */
#include "tessera.h"

#include <stdio.h>
#include <string.h>

int main(int argc, char **argv) {
    const char *kind = argc > 1 ? argv[1] : "session";
    tessera_manager *m = NULL;
    if (tessera_manager_new("{\"sweep_interval_ms\": null}", NULL, &m) != TESSERA_STATUS_OK) return 2;
    /* In each case the only pointer to the leaked object is dropped: a definite leak. */
    if (strcmp(kind, "session") == 0) {
        tessera_session *s = NULL;
        if (tessera_manager_create(m, NULL, NULL, true, NULL, &s) != TESSERA_STATUS_OK) return 2;
        s = NULL;
    } else if (strcmp(kind, "manager") == 0) {
        tessera_manager *leaked = NULL;
        if (tessera_manager_new("{\"sweep_interval_ms\": null}", NULL, &leaked) != TESSERA_STATUS_OK)
            return 2;
        leaked = NULL;
    } else if (strcmp(kind, "clock") == 0) {
        tessera_clock *c = NULL;
        if (tessera_clock_new(0, &c) != TESSERA_STATUS_OK) return 2;
        c = NULL;
    } else if (strcmp(kind, "string") == 0) {
        char *header = NULL;
        if (tessera_manager_clear_cookie(m, &header) != TESSERA_STATUS_OK) return 2;
        header = NULL;
    } else if (strcmp(kind, "request") == 0) {
        tessera_request *r = NULL;
        if (tessera_request_begin(m, NULL, true, "GET", NULL, NULL, &r) != TESSERA_STATUS_OK)
            return 2;
        r = NULL;
    } else if (strcmp(kind, "response") == 0) {
        tessera_request *r = NULL;
        tessera_response *resp = NULL;
        if (tessera_request_begin(m, NULL, true, "POST", NULL, NULL, &r) != TESSERA_STATUS_OK ||
            tessera_request_finish(r, m, NULL, TESSERA_AUTH_LOGGED_IN, "canary", false,
                                   TESSERA_EXPIRY_NONE, 0, false, false, &resp) != TESSERA_STATUS_OK)
            return 2;
        resp = NULL;
    } else if (strcmp(kind, "endpoint_response") == 0) {
        tessera_manager *dbsc = NULL;
        tessera_endpoint_response *leaked = NULL;
        tessera_dbsc_head head = {0};
        head.https = true;
        head.method = "POST";
        if (tessera_manager_new("{\"sweep_interval_ms\": null, \"dbsc\": true}", NULL, &dbsc) !=
                TESSERA_STATUS_OK ||
            tessera_dbsc_refresh(dbsc, &head, &leaked) != TESSERA_STATUS_OK)
            return 2;
        tessera_manager_free(dbsc);
        leaked = NULL;
    } else {
        fprintf(stderr, "unknown kind %s\n", kind);
        return 2;
    }
    tessera_manager_free(m);
    printf("1 passed, 0 failed\n");
    return 0;
}
