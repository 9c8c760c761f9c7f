/*
 * test_validate_in.c: tessera_manager_validate_in, which builds the session in a
 * tessera_session_storage of the caller's and copies out only the parts `fields` names — a
 * valid token with every part, the rejections (malformed, unknown, expired) leaving the storage
 * untouched, each accessor gated by its field, a NULL storage and unknown `fields` bits refused
 * with nothing written or done, a double free harmless, the storage reused for a second session,
 * and a rotation through validate_in handing out the new token. Also: tessera_manager_validate
 * never reads its user_agent argument. The suite runs it plainly, under valgrind and under
 * ASan + UBSan: a session in storage must drop everything it holds when freed.
 */
#include <stdalign.h>
#include <stdint.h>

#include "check.h"

#define START 1700000000000ULL

static const char *OPTIONS =
    "{\"idle_timeout_ms\": 60000, \"absolute_timeout_ms\": 600000, \"rotation_interval_ms\": 30000,"
    " \"rotation_grace_ms\": 5000, \"sweep_interval_ms\": null, \"cookie_name\": \"sid\","
    " \"cookie_secure\": false}";

/* The storage is a plain C object of the documented size, aligned for any session. */
_Static_assert(sizeof(tessera_session_storage) == TESSERA_SESSION_STORAGE_SIZE,
               "tessera_session_storage has TESSERA_SESSION_STORAGE_SIZE bytes");
_Static_assert(TESSERA_SESSION_STORAGE_SIZE == 8 * TESSERA_SESSION_STORAGE_WORDS,
               "the storage is made of 64-bit words");
_Static_assert(alignof(tessera_session_storage) >= 8, "the storage is word-aligned");
_Static_assert(TESSERA_FIELDS_ALL ==
                   (TESSERA_FIELD_DATA | TESSERA_FIELD_CSRF | TESSERA_FIELD_USER_AGENT),
               "TESSERA_FIELDS_ALL is every field");

/* Counts the rotations. */
struct counts {
    int rotated;
};

static void on_event(void *user_data, const tessera_event *event) {
    struct counts *c = user_data;
    if (strcmp(tessera_event_kind(event), "rotated") == 0) c->rotated++;
}

struct fixture {
    tessera_clock *clock;
    tessera_manager *m;
    struct counts events;
    char tok[TESSERA_TOKEN_BUFFER_LEN]; /* alice's token */
    char id[TESSERA_ID_BUFFER_LEN];     /* alice's session id */
};

static void setup(struct fixture *f) {
    memset(f, 0, sizeof *f);
    CHECK_OK(tessera_clock_new(START, &f->clock));
    CHECK_OK(tessera_manager_new(OPTIONS, f->clock, &f->m));
    CHECK_OK(tessera_manager_add_listener(f->m, on_event, &f->events));
    tessera_session *s = NULL;
    CHECK_OK(tessera_manager_create(f->m, "alice", "{\"theme\": \"dark\", \"n\": 1}", true,
                                    "agent/1", &s));
    CHECK_OK(tessera_session_new_token(s, f->tok, sizeof f->tok));
    CHECK_OK(tessera_session_id(s, f->id, sizeof f->id));
    tessera_session_free(s);
}

static void teardown(struct fixture *f) {
    tessera_manager_free(f->m);
    tessera_clock_free(f->clock);
}

/* Fill the storage with a pattern, to see later whether a call wrote it. */
static void fill(tessera_session_storage *storage) { memset(storage, 0xA5, sizeof *storage); }

static int untouched(const tessera_session_storage *storage) {
    const unsigned char *bytes = (const unsigned char *)storage;
    for (size_t i = 0; i < sizeof *storage; i++)
        if (bytes[i] != 0xA5) return 0;
    return 1;
}

static int last_error_has(const char *text) { return strstr(tessera_last_error(), text) != NULL; }

/* The same answer as tessera_manager_validate, built in the caller's storage, every part. */
static void test_valid_all_fields(void) {
    struct fixture f;
    setup(&f);
    tessera_session_storage storage; /* on the stack, uninitialised, as a C caller has it */
    tessera_session *s = NULL;
    tessera_reason reason = TESSERA_REASON_NONE;
    CHECK_OK(tessera_manager_validate_in(f.m, f.tok, true, TESSERA_FIELDS_ALL, &storage, &s,
                                         &reason));
    CHECK(s == (tessera_session *)(void *)&storage);
    CHECK(reason == TESSERA_REASON_NONE);
    char id[TESSERA_ID_BUFFER_LEN];
    CHECK_OK(tessera_session_id(s, id, sizeof id));
    CHECK_STR(id, f.id);
    const char *user = NULL;
    CHECK_OK(tessera_session_user(s, &user)); /* allocates the C string: freed with the session */
    CHECK_STR(user, "alice");
    bool flag = true;
    CHECK_OK(tessera_session_has_new_token(s, &flag));
    CHECK(!flag);
    CHECK_OK(tessera_session_secure(s, &flag));
    CHECK(flag);
    uint64_t at = 0;
    CHECK_OK(tessera_session_last_seen(s, &at));
    CHECK(at == START);
    CHECK_OK(tessera_session_expires_at(s, &at));
    CHECK(at == START + 60000);
    CHECK_OK(tessera_session_absolute_deadline(s, &at));
    CHECK(at == START + 600000);
    CHECK_OK(tessera_session_created_at(s, &at));
    CHECK(at == START);
    char *json = NULL;
    CHECK_OK(tessera_session_data(s, &json));
    CHECK_STR(json, "{\"n\":1,\"theme\":\"dark\"}");
    tessera_string_free(json);
    CHECK_OK(tessera_session_get(s, "theme", &json));
    CHECK_STR(json, "\"dark\"");
    tessera_string_free(json);
    char *csrf = NULL;
    CHECK_OK(tessera_session_csrf_token(s, &csrf));
    CHECK(csrf != NULL && strlen(csrf) == 86);
    flag = false;
    CHECK_OK(tessera_session_verify_csrf(s, csrf, &flag));
    CHECK(flag);
    CHECK_OK(tessera_session_verify_csrf(s, "not-a-csrf-token", &flag));
    CHECK(!flag);
    char *set_cookie = NULL;
    CHECK_STATUS(tessera_manager_set_cookie_for_session(f.m, s, &set_cookie),
                 TESSERA_STATUS_INVALID_ARGUMENT); /* no new token, as for a handle */
    tessera_session_free(s);

    /* A handle from tessera_manager_validate agrees, and verifies the CSRF token minted above. */
    tessera_session *h = NULL;
    CHECK_OK(tessera_manager_validate(f.m, f.tok, true, NULL, &h, &reason));
    CHECK_OK(tessera_session_id(h, id, sizeof id));
    CHECK_STR(id, f.id);
    CHECK_OK(tessera_session_verify_csrf(h, csrf, &flag));
    CHECK(flag);
    CHECK(h != (tessera_session *)(void *)&storage);
    tessera_session_free(h);
    tessera_string_free(csrf);
    teardown(&f);
}

/* A refused token writes only the reason: neither the storage nor *session_out. */
static void test_rejected_and_malformed(void) {
    struct fixture f;
    setup(&f);
    tessera_session_storage storage;
    tessera_session *sentinel = (tessera_session *)(uintptr_t)0x1;
    tessera_session *s = sentinel;
    tessera_reason reason = TESSERA_REASON_NONE;

    fill(&storage);
    CHECK_STATUS(tessera_manager_validate_in(f.m, "not a token", true, TESSERA_FIELDS_ALL,
                                             &storage, &s, &reason),
                 TESSERA_STATUS_REJECTED);
    CHECK(reason == TESSERA_REASON_MALFORMED);
    CHECK(s == sentinel);
    CHECK(untouched(&storage));
    CHECK(last_error_has("malformed"));

    char unknown[TESSERA_TOKEN_BUFFER_LEN];
    memset(unknown, 'A', 43);
    unknown[43] = '\0';
    reason = TESSERA_REASON_NONE;
    CHECK_STATUS(tessera_manager_validate_in(f.m, unknown, true, TESSERA_FIELD_DATA, &storage, &s,
                                             &reason),
                 TESSERA_STATUS_REJECTED);
    CHECK(reason == TESSERA_REASON_UNKNOWN);
    CHECK(s == sentinel);
    CHECK(untouched(&storage));
    /* reason_out may be NULL */
    CHECK_STATUS(tessera_manager_validate_in(f.m, unknown, true, 0, &storage, &s, NULL),
                 TESSERA_STATUS_REJECTED);
    CHECK(s == sentinel && untouched(&storage));

    /* Idle for the whole idle timeout: expired, and ended (the next answer is unknown). */
    CHECK_OK(tessera_clock_advance(f.clock, 60000));
    CHECK_STATUS(tessera_manager_validate_in(f.m, f.tok, true, TESSERA_FIELDS_ALL, &storage, &s,
                                             &reason),
                 TESSERA_STATUS_REJECTED);
    CHECK(reason == TESSERA_REASON_EXPIRED_IDLE);
    CHECK(s == sentinel && untouched(&storage));
    CHECK_STATUS(tessera_manager_validate(f.m, f.tok, true, NULL, &s, &reason),
                 TESSERA_STATUS_REJECTED);
    CHECK(reason == TESSERA_REASON_UNKNOWN);
    teardown(&f);
}

/* Each accessor answers only with the parts the read copied out, and names the missing flag. */
static void test_fields_gate_each_accessor(void) {
    struct fixture f;
    setup(&f);
    /* A CSRF token minted by a full read, to verify through narrow ones. */
    tessera_session *h = NULL;
    tessera_reason reason = TESSERA_REASON_NONE;
    CHECK_OK(tessera_manager_validate(f.m, f.tok, true, NULL, &h, &reason));
    char *csrf = NULL;
    CHECK_OK(tessera_session_csrf_token(h, &csrf));
    tessera_session_free(h);

    for (uint32_t fields = 0; fields <= TESSERA_FIELDS_ALL; fields++) {
        tessera_session_storage storage;
        tessera_session *s = NULL;
        CHECK_OK(tessera_manager_validate_in(f.m, f.tok, true, fields, &storage, &s, &reason));
        int data = (fields & TESSERA_FIELD_DATA) != 0, secret = (fields & TESSERA_FIELD_CSRF) != 0;

        /* Always there: id, user, times. */
        char id[TESSERA_ID_BUFFER_LEN];
        CHECK_OK(tessera_session_id(s, id, sizeof id));
        CHECK_STR(id, f.id);
        const char *user = NULL;
        CHECK_OK(tessera_session_user(s, &user));
        CHECK_STR(user, "alice");
        uint64_t at = 0;
        CHECK_OK(tessera_session_expires_at(s, &at));
        CHECK(at == START + 60000);

        char *json = (char *)"sentinel";
        if (data) {
            CHECK_OK(tessera_session_data(s, &json));
            CHECK_STR(json, "{\"n\":1,\"theme\":\"dark\"}");
            tessera_string_free(json);
            CHECK_OK(tessera_session_get(s, "n", &json));
            CHECK_STR(json, "1");
            tessera_string_free(json);
        } else {
            CHECK_STATUS(tessera_session_data(s, &json), TESSERA_STATUS_INVALID_ARGUMENT);
            CHECK(last_error_has("without its data") && last_error_has("TESSERA_FIELD_DATA"));
            CHECK_STATUS(tessera_session_get(s, "n", &json), TESSERA_STATUS_INVALID_ARGUMENT);
            CHECK(last_error_has("TESSERA_FIELD_DATA"));
            /* not an empty object, not "absent": nothing written */
            CHECK_STR(json, "sentinel");
        }

        char *minted = (char *)"sentinel";
        bool valid = false;
        if (secret) {
            CHECK_OK(tessera_session_csrf_token(s, &minted));
            CHECK(strlen(minted) == 86);
            tessera_string_free(minted);
            CHECK_OK(tessera_session_verify_csrf(s, csrf, &valid));
            CHECK(valid);
        } else {
            CHECK_STATUS(tessera_session_csrf_token(s, &minted), TESSERA_STATUS_INVALID_ARGUMENT);
            CHECK(last_error_has("without its CSRF secret") &&
                  last_error_has("TESSERA_FIELD_CSRF"));
            CHECK_STR(minted, "sentinel");
            /* Fails closed: an error, and valid_out never says "valid". */
            CHECK_STATUS(tessera_session_verify_csrf(s, csrf, &valid),
                         TESSERA_STATUS_INVALID_ARGUMENT);
            CHECK(last_error_has("TESSERA_FIELD_CSRF"));
            CHECK(!valid);
        }
        tessera_session_free(s);
    }
    tessera_string_free(csrf);
    teardown(&f);
}

/* Arguments refused up front: nothing is written, and nothing is done to the session. */
static void test_refused_arguments(void) {
    struct fixture f;
    setup(&f);
    tessera_session_storage storage;
    tessera_session *sentinel = (tessera_session *)(uintptr_t)0x1;
    tessera_session *s = sentinel;
    tessera_reason reason = TESSERA_REASON_NONE;

    /* A rotation is due: a call that did anything would rotate (and emit "rotated"). */
    CHECK_OK(tessera_clock_advance(f.clock, 30000));

    CHECK_STATUS(tessera_manager_validate_in(f.m, f.tok, true, TESSERA_FIELDS_ALL, NULL, &s,
                                             &reason),
                 TESSERA_STATUS_INVALID_ARGUMENT);
    CHECK(last_error_has("storage must not be NULL"));
    CHECK(s == sentinel && reason == TESSERA_REASON_NONE);

    const uint32_t bad[] = {8, 15, 0x100, 0x80000000u, 0xFFFFFFFFu};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        fill(&storage);
        CHECK_STATUS(tessera_manager_validate_in(f.m, f.tok, true, bad[i], &storage, &s, &reason),
                     TESSERA_STATUS_INVALID_ARGUMENT);
        CHECK(last_error_has("fields has bits that name no part"));
        CHECK(s == sentinel && reason == TESSERA_REASON_NONE && untouched(&storage));
    }

    fill(&storage);
    CHECK_STATUS(tessera_manager_validate_in(f.m, f.tok, true, TESSERA_FIELDS_ALL, &storage, NULL,
                                             &reason),
                 TESSERA_STATUS_INVALID_ARGUMENT);
    CHECK(last_error_has("session_out must not be NULL") && untouched(&storage));
    CHECK_STATUS(tessera_manager_validate_in(f.m, NULL, true, TESSERA_FIELDS_ALL, &storage, &s,
                                             &reason),
                 TESSERA_STATUS_INVALID_ARGUMENT);
    CHECK(last_error_has("token must not be NULL") && untouched(&storage));
    CHECK_STATUS(tessera_manager_validate_in(NULL, f.tok, true, TESSERA_FIELDS_ALL, &storage, &s,
                                             &reason),
                 TESSERA_STATUS_INVALID_ARGUMENT);
    CHECK(last_error_has("manager must not be NULL") && untouched(&storage));
    CHECK(s == sentinel && reason == TESSERA_REASON_NONE);
    CHECK(f.events.rotated == 0);

    /* The first good call is the one that rotates. */
    CHECK_OK(tessera_manager_validate_in(f.m, f.tok, true, TESSERA_FIELDS_ALL, &storage, &s,
                                         &reason));
    bool issued = false;
    CHECK_OK(tessera_session_has_new_token(s, &issued));
    CHECK(issued);
    CHECK(f.events.rotated == 1);
    tessera_session_free(s);
    teardown(&f);
}

/* A second free does nothing but say so; the storage is then reused for another session. */
static void test_double_free_and_reuse(void) {
    struct fixture f;
    setup(&f);
    tessera_session *b = NULL;
    char bob[TESSERA_TOKEN_BUFFER_LEN];
    CHECK_OK(tessera_manager_login(f.m, NULL, "bob", true, NULL, &b));
    CHECK_OK(tessera_session_new_token(b, bob, sizeof bob));
    tessera_session_free(b);

    tessera_session_storage storage;
    tessera_session *s = NULL;
    tessera_reason reason = TESSERA_REASON_NONE;
    CHECK_OK(tessera_manager_validate_in(f.m, f.tok, true, TESSERA_FIELDS_ALL, &storage, &s,
                                         &reason));
    const char *user = NULL;
    CHECK_OK(tessera_session_user(s, &user));
    CHECK_STR(user, "alice");
    /* Set a known last error; a successful free leaves it alone. */
    uint64_t t = 0;
    tessera_clock_now(NULL, &t);
    char before[256];
    snprintf(before, sizeof before, "%s", tessera_last_error());
    tessera_session_free(s);
    CHECK_STR(tessera_last_error(), before);
    tessera_session_free(s);
    CHECK(last_error_has("session is not a live handle"));
    tessera_session_free(s);
    CHECK(last_error_has("session is not a live handle"));
    /* A freed session is refused, not read. */
    CHECK_STATUS(tessera_session_user(s, &user), TESSERA_STATUS_INVALID_ARGUMENT);
    CHECK(last_error_has("not a live handle"));
    tessera_session_free(NULL);

    /* The same storage, another session, another field set. */
    tessera_session *again = NULL;
    CHECK_OK(tessera_manager_validate_in(f.m, bob, true, TESSERA_FIELD_CSRF, &storage, &again,
                                         &reason));
    CHECK(again == s);
    CHECK_OK(tessera_session_user(again, &user));
    CHECK_STR(user, "bob");
    char *json = NULL;
    CHECK_STATUS(tessera_session_data(again, &json), TESSERA_STATUS_INVALID_ARGUMENT);
    char *csrf = NULL;
    CHECK_OK(tessera_session_csrf_token(again, &csrf));
    tessera_string_free(csrf);
    tessera_session_free(again);
    tessera_session_free(again);
    CHECK(last_error_has("session is not a live handle"));

    /* Many rounds in one storage: each free drops what the session held (valgrind, LSan). */
    for (int i = 0; i < 50; i++) {
        CHECK_OK(tessera_manager_validate_in(f.m, i % 2 ? bob : f.tok, true, TESSERA_FIELDS_ALL,
                                             &storage, &s, &reason));
        CHECK_OK(tessera_session_user(s, &user));
        CHECK_STR(user, i % 2 ? "bob" : "alice");
        tessera_session_free(s);
    }
    teardown(&f);
}

/* A rotation through validate_in hands out the new token, whatever the fields. */
static void test_rotation_hands_out_the_new_token(void) {
    struct fixture f;
    setup(&f);
    CHECK_OK(tessera_clock_advance(f.clock, 30000));
    tessera_session_storage storage;
    tessera_session *s = NULL;
    tessera_reason reason = TESSERA_REASON_NONE;
    CHECK_OK(tessera_manager_validate_in(f.m, f.tok, true, 0, &storage, &s, &reason));
    bool issued = false;
    CHECK_OK(tessera_session_has_new_token(s, &issued));
    CHECK(issued);
    char fresh[TESSERA_TOKEN_BUFFER_LEN];
    CHECK_OK(tessera_session_new_token(s, fresh, sizeof fresh));
    CHECK(strlen(fresh) == 43 && strcmp(fresh, f.tok) != 0);
    char *set_cookie = NULL;
    CHECK_OK(tessera_manager_set_cookie_for_session(f.m, s, &set_cookie));
    char want[64];
    snprintf(want, sizeof want, "sid=%s;", fresh);
    CHECK(strncmp(set_cookie, want, strlen(want)) == 0);
    tessera_string_free(set_cookie);
    /* Read without data, even though the rotation read every part. */
    char *json = NULL;
    CHECK_STATUS(tessera_session_data(s, &json), TESSERA_STATUS_INVALID_ARGUMENT);
    char id[TESSERA_ID_BUFFER_LEN];
    CHECK_OK(tessera_session_id(s, id, sizeof id));
    CHECK(strcmp(id, f.id) != 0); /* a new token, so a new id */
    tessera_session_free(s);
    CHECK(f.events.rotated == 1);

    /* The new token is the session; the old one is its alias for the grace period. */
    CHECK_OK(tessera_manager_validate_in(f.m, fresh, true, TESSERA_FIELD_DATA, &storage, &s,
                                         &reason));
    char same[TESSERA_ID_BUFFER_LEN];
    CHECK_OK(tessera_session_id(s, same, sizeof same));
    CHECK_STR(same, id);
    CHECK_OK(tessera_session_data(s, &json));
    CHECK_STR(json, "{\"n\":1,\"theme\":\"dark\"}");
    tessera_string_free(json);
    CHECK_OK(tessera_session_has_new_token(s, &issued));
    CHECK(!issued);
    tessera_session_free(s);
    CHECK_OK(tessera_manager_validate_in(f.m, f.tok, true, TESSERA_FIELDS_ALL, &storage, &s,
                                         &reason));
    CHECK_OK(tessera_session_id(s, same, sizeof same));
    CHECK_STR(same, id);
    tessera_session_free(s);
    CHECK_OK(tessera_clock_advance(f.clock, 5000));
    CHECK_STATUS(tessera_manager_validate_in(f.m, f.tok, true, TESSERA_FIELDS_ALL, &storage, &s,
                                             &reason),
                 TESSERA_STATUS_REJECTED);
    CHECK(reason == TESSERA_REASON_UNKNOWN);

    /* An HTTP session first seen over HTTPS gets a new token at once, through validate_in too. */
    tessera_session *h = NULL;
    char plain[TESSERA_TOKEN_BUFFER_LEN];
    CHECK_OK(tessera_manager_create(f.m, NULL, NULL, false, NULL, &h));
    CHECK_OK(tessera_session_new_token(h, plain, sizeof plain));
    tessera_session_free(h);
    CHECK_OK(tessera_manager_validate_in(f.m, plain, true, TESSERA_FIELD_CSRF, &storage, &s,
                                         &reason));
    CHECK_OK(tessera_session_has_new_token(s, &issued));
    CHECK(issued);
    tessera_session_free(s);
    teardown(&f);
}

/* tessera_manager_validate never reads user_agent: a pointer that is no string is fine. */
static void test_validate_ignores_user_agent(void) {
    struct fixture f;
    setup(&f);
    tessera_session *s = NULL;
    tessera_reason reason = TESSERA_REASON_NONE;
    const char *not_a_string = (const char *)(uintptr_t)0x8; /* reading it would crash */
    CHECK_OK(tessera_manager_validate(f.m, f.tok, true, not_a_string, &s, &reason));
    char id[TESSERA_ID_BUFFER_LEN];
    CHECK_OK(tessera_session_id(s, id, sizeof id));
    CHECK_STR(id, f.id);
    tessera_session_free(s);
    CHECK_STATUS(tessera_manager_validate(f.m, "bad", true, not_a_string, &s, &reason),
                 TESSERA_STATUS_REJECTED);
    CHECK(reason == TESSERA_REASON_MALFORMED);
    /* The device label listed is still the one recorded when the session was created. */
    char *list = NULL;
    CHECK_OK(tessera_manager_list_user(f.m, "alice", &list));
    CHECK(list != NULL && strstr(list, "agent/1") != NULL);
    tessera_string_free(list);
    teardown(&f);
}

int main(void) {
    test_valid_all_fields();
    test_rejected_and_malformed();
    test_fields_gate_each_accessor();
    test_refused_arguments();
    test_double_free_and_reuse();
    test_rotation_hands_out_the_new_token();
    test_validate_ignores_user_agent();
    return check_summary();
}
