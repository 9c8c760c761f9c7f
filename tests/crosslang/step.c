/* One step of the cross-language test, through the C ABI:
 *   step STORE_URL validate TOKEN      prints "valid USER" | "rejected REASON"
 *   step STORE_URL revoke-user USER    prints "revoked N"
 * Exit status 0 unless the call itself failed (then the status name goes to stderr). */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tessera.h"

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: %s STORE_URL validate TOKEN | revoke-user USER\n", argv[0]);
        return 2;
    }
    json_t *spec = json_pack("{s:s, s:n}", "store", argv[1], "sweep_interval_ms");
    char *options = spec ? json_dumps(spec, JSON_COMPACT) : NULL;
    json_decref(spec);
    if (options == NULL) {
        fprintf(stderr, "cannot build the options JSON\n");
        return 1;
    }
    tessera_manager *manager = NULL;
    int status = tessera_manager_new(options, NULL, &manager);
    free(options);
    if (status != TESSERA_STATUS_OK) {
        fprintf(stderr, "manager: %s: %s\n", tessera_status_str(status), tessera_last_error());
        return 1;
    }
    int rc = 0;
    if (strcmp(argv[2], "validate") == 0) {
        tessera_session *session = NULL;
        tessera_reason reason;
        status = tessera_manager_validate(manager, argv[3], false, NULL, &session, &reason);
        if (status == TESSERA_STATUS_OK) {
            const char *user = NULL;
            if (tessera_session_user(session, &user) != TESSERA_STATUS_OK) {
                fprintf(stderr, "user: %s\n", tessera_last_error());
                rc = 1;
            }
            printf("valid %s\n", user ? user : "-");
            tessera_session_free(session);
        } else if (status == TESSERA_STATUS_REJECTED) {
            printf("rejected %s\n", tessera_reason_str(reason));
        } else {
            fprintf(stderr, "validate: %s: %s\n", tessera_status_str(status), tessera_last_error());
            rc = 1;
        }
    } else if (strcmp(argv[2], "revoke-user") == 0) {
        size_t count = 0;
        status = tessera_manager_revoke_user(manager, argv[3], &count);
        if (status == TESSERA_STATUS_OK) {
            printf("revoked %zu\n", count);
        } else {
            fprintf(stderr, "revoke-user: %s: %s\n", tessera_status_str(status), tessera_last_error());
            rc = 1;
        }
    } else {
        fprintf(stderr, "unknown step %s\n", argv[2]);
        rc = 2;
    }
    tessera_manager_free(manager);
    return rc;
}
