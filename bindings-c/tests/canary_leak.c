/*
 * canary_leak.c: leaks a session on purpose. tests/run.sh runs it under valgrind and under
 * LeakSanitizer and requires both to FAIL, proving that the leak checks of the suite are live.
 */
#include "tessera.h"

#include <stdio.h>

int main(void) {
    tessera_manager *m = NULL;
    tessera_session *s = NULL;
    if (tessera_manager_new("{\"sweep_interval_ms\": null}", NULL, &m) != TESSERA_STATUS_OK) return 2;
    if (tessera_manager_create(m, NULL, NULL, true, NULL, &s) != TESSERA_STATUS_OK) return 2;
    s = NULL; /* the only pointer to the session is gone: a definite leak */
    tessera_manager_free(m);
    printf("1 passed, 0 failed\n");
    return s == NULL ? 0 : 1;
}
