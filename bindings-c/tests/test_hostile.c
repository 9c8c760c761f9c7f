/*
 * test_hostile.c: what a careless or hostile caller can throw at the ABI. NULL in every pointer
 * parameter, empty strings, bytes that are not UTF-8, 1 MiB strings, buffers that are too small,
 * numbers that are not enum values, frees of NULL, of freed handles and of pointers that are not
 * handles. Every call must return a status (never crash), leave its out-parameters untouched on
 * failure, and explain itself in tessera_last_error() without echoing the input.
 */
#include <stdint.h>

#include "check.h"

#define MIB (1024 * 1024)

static const char *NOT_UTF8 = "\xff\xfe\xc3\x28 not utf-8";

#define CHECK_INVALID(call) CHECK_STATUS(call, TESSERA_STATUS_INVALID_ARGUMENT)

/* A call with a NULL argument fails with INVALID_ARGUMENT and the message names it. */
#define CHECK_NULL_ARG(call, name)                                                           \
    do {                                                                                     \
        CHECK_INVALID(call);                                                                 \
        CHECK(strstr(tessera_last_error(), name " must not be NULL") != NULL);               \
    } while (0)

static char *repeat(char c, size_t n) {
    char *s = malloc(n + 1);
    memset(s, c, n);
    s[n] = '\0';
    return s;
}

static void test_null_everywhere(tessera_manager *m, tessera_session *s, const char *tok,
                                 const char *id) {
    tessera_manager *mout = (tessera_manager *)0x1;
    tessera_session *sout = (tessera_session *)0x1;
    tessera_clock *cout = (tessera_clock *)0x1;
    tessera_reason reason = TESSERA_REASON_NONE;
    char buf[128] = "untouched";
    char *str = (char *)0x1;
    const char *cstr = (const char *)0x1;
    bool flag = true;
    size_t count = 77;
    uint64_t u = 77;
    tessera_cookie found = (tessera_cookie)7;

    CHECK_NULL_ARG(tessera_clock_new(0, NULL), "clock_out");
    CHECK_NULL_ARG(tessera_clock_advance(NULL, 1), "clock");
    CHECK_NULL_ARG(tessera_clock_set(NULL, 1), "clock");
    CHECK_NULL_ARG(tessera_clock_now(NULL, &u), "clock");
    CHECK_OK(tessera_clock_new(0, &cout));
    CHECK_NULL_ARG(tessera_clock_now(cout, NULL), "now_out");
    tessera_clock_free(cout);

    CHECK_NULL_ARG(tessera_manager_new(NULL, NULL, NULL), "manager_out");
    CHECK_NULL_ARG(tessera_manager_create(NULL, NULL, NULL, false, NULL, &sout), "manager");
    CHECK_NULL_ARG(tessera_manager_create(m, NULL, NULL, false, NULL, NULL), "session_out");
    CHECK_NULL_ARG(tessera_manager_validate(NULL, tok, false, NULL, &sout, &reason), "manager");
    CHECK_NULL_ARG(tessera_manager_validate(m, NULL, false, NULL, &sout, &reason), "token");
    CHECK_NULL_ARG(tessera_manager_validate(m, tok, false, NULL, NULL, &reason), "session_out");
    CHECK_NULL_ARG(tessera_manager_rotate(NULL, tok, false, NULL, &sout, &reason), "manager");
    CHECK_NULL_ARG(tessera_manager_rotate(m, NULL, false, NULL, &sout, &reason), "token");
    CHECK_NULL_ARG(tessera_manager_rotate(m, tok, false, NULL, NULL, &reason), "session_out");
    CHECK_NULL_ARG(tessera_manager_login(NULL, NULL, "u", false, NULL, &sout), "manager");
    CHECK_NULL_ARG(tessera_manager_login(m, NULL, NULL, false, NULL, &sout), "user");
    CHECK_NULL_ARG(tessera_manager_login(m, NULL, "u", false, NULL, NULL), "session_out");
    CHECK_NULL_ARG(tessera_manager_logout(NULL, tok, &flag), "manager");
    CHECK_NULL_ARG(tessera_manager_logout(m, NULL, &flag), "token");
    CHECK_NULL_ARG(tessera_manager_revoke(NULL, id, &flag), "manager");
    CHECK_NULL_ARG(tessera_manager_revoke(m, NULL, &flag), "id");
    CHECK_NULL_ARG(tessera_manager_revoke_user(NULL, "u", &count), "manager");
    CHECK_NULL_ARG(tessera_manager_revoke_user(m, NULL, &count), "user");
    CHECK_NULL_ARG(tessera_manager_revoke_user_except(NULL, "u", tok, &count), "manager");
    CHECK_NULL_ARG(tessera_manager_revoke_user_except(m, NULL, tok, &count), "user");
    CHECK_NULL_ARG(tessera_manager_revoke_user_except(m, "u", NULL, &count), "token");
    CHECK_NULL_ARG(tessera_manager_revoke_all(NULL, &count), "manager");
    CHECK_NULL_ARG(tessera_manager_list_user(NULL, "u", &str), "manager");
    CHECK_NULL_ARG(tessera_manager_list_user(m, NULL, &str), "user");
    CHECK_NULL_ARG(tessera_manager_list_user(m, "u", NULL), "json_out");
    CHECK_NULL_ARG(tessera_manager_csrf_token(NULL, tok, &str, &reason), "manager");
    CHECK_NULL_ARG(tessera_manager_csrf_token(m, NULL, &str, &reason), "token");
    CHECK_NULL_ARG(tessera_manager_csrf_token(m, tok, NULL, &reason), "csrf_out");
    CHECK_NULL_ARG(tessera_manager_verify_csrf(NULL, tok, "c", &flag), "manager");
    CHECK_NULL_ARG(tessera_manager_verify_csrf(m, NULL, "c", &flag), "token");
    CHECK_NULL_ARG(tessera_manager_verify_csrf(m, tok, NULL, &flag), "candidate");
    CHECK_NULL_ARG(tessera_manager_verify_csrf(m, tok, "c", NULL), "valid_out");
    CHECK_NULL_ARG(tessera_manager_sweep(NULL, &count), "manager");
    CHECK_NULL_ARG(tessera_manager_store_len(NULL, &count), "manager");
    CHECK_NULL_ARG(tessera_manager_store_len(m, NULL), "count_out");
    CHECK_NULL_ARG(tessera_manager_store_is_shared(NULL, &flag), "manager");
    CHECK_NULL_ARG(tessera_manager_store_is_shared(m, NULL), "shared_out");
    CHECK_NULL_ARG(tessera_manager_forked(NULL, &flag), "manager");
    CHECK_NULL_ARG(tessera_manager_forked(m, NULL), "forked_out");
    CHECK_NULL_ARG(tessera_manager_store_warnings(NULL, &str), "manager");
    CHECK_NULL_ARG(tessera_manager_store_warnings(m, NULL), "json_out");
    CHECK_NULL_ARG(tessera_manager_id_of(NULL, tok, buf, sizeof buf, &reason), "manager");
    CHECK_NULL_ARG(tessera_manager_id_of(m, NULL, buf, sizeof buf, &reason), "token");
    CHECK_NULL_ARG(tessera_manager_id_of(m, tok, NULL, sizeof buf, &reason), "id_out");
    CHECK_NULL_ARG(tessera_manager_data_set(NULL, id, "k", "1", &reason), "manager");
    CHECK_NULL_ARG(tessera_manager_data_set(m, NULL, "k", "1", &reason), "id");
    CHECK_NULL_ARG(tessera_manager_data_set(m, id, NULL, "1", &reason), "key");
    CHECK_NULL_ARG(tessera_manager_data_set(m, id, "k", NULL, &reason), "value_json");
    CHECK_NULL_ARG(tessera_manager_data_remove(NULL, id, "k", &reason), "manager");
    CHECK_NULL_ARG(tessera_manager_data_remove(m, NULL, "k", &reason), "id");
    CHECK_NULL_ARG(tessera_manager_data_remove(m, id, NULL, &reason), "key");
    CHECK_NULL_ARG(tessera_manager_data_replace(NULL, id, "{}", &reason), "manager");
    CHECK_NULL_ARG(tessera_manager_data_replace(m, NULL, "{}", &reason), "id");
    CHECK_NULL_ARG(tessera_manager_data_replace(m, id, NULL, &reason), "data_json");
    CHECK_NULL_ARG(tessera_manager_set_cookie(NULL, tok, &str), "manager");
    CHECK_NULL_ARG(tessera_manager_set_cookie(m, NULL, &str), "token");
    CHECK_NULL_ARG(tessera_manager_set_cookie(m, tok, NULL), "header_out");
    CHECK_NULL_ARG(tessera_manager_set_cookie_for_session(NULL, s, &str), "manager");
    CHECK_NULL_ARG(tessera_manager_set_cookie_for_session(m, NULL, &str), "session");
    CHECK_NULL_ARG(tessera_manager_set_cookie_for_session(m, s, NULL), "header_out");
    CHECK_NULL_ARG(tessera_manager_clear_cookie(NULL, &str), "manager");
    CHECK_NULL_ARG(tessera_manager_clear_cookie(m, NULL), "header_out");
    CHECK_NULL_ARG(tessera_manager_cookie_token(NULL, "a=1", buf, sizeof buf, &found), "manager");
    CHECK_NULL_ARG(tessera_manager_cookie_token(m, NULL, buf, sizeof buf, &found), "cookie_header");
    CHECK_NULL_ARG(tessera_manager_cookie_token(m, "a=1", NULL, sizeof buf, &found), "token_out");
    CHECK_NULL_ARG(tessera_manager_cookie_token(m, "a=1", buf, sizeof buf, NULL), "found_out");
    CHECK_NULL_ARG(tessera_manager_add_listener(NULL, NULL, NULL), "manager");
    CHECK_NULL_ARG(tessera_manager_add_listener(m, NULL, NULL), "listener");

    CHECK_NULL_ARG(tessera_session_id(NULL, buf, sizeof buf), "session");
    CHECK_NULL_ARG(tessera_session_id(s, NULL, sizeof buf), "id_out");
    CHECK_NULL_ARG(tessera_session_user(NULL, &cstr), "session");
    CHECK_NULL_ARG(tessera_session_user(s, NULL), "user_out");
    CHECK_NULL_ARG(tessera_session_has_new_token(NULL, &flag), "session");
    CHECK_NULL_ARG(tessera_session_has_new_token(s, NULL), "issued_out");
    CHECK_NULL_ARG(tessera_session_new_token(NULL, buf, sizeof buf), "session");
    CHECK_NULL_ARG(tessera_session_new_token(s, NULL, sizeof buf), "token_out");
    CHECK_NULL_ARG(tessera_session_expires_at(NULL, &u), "session");
    CHECK_NULL_ARG(tessera_session_expires_at(s, NULL), "at_out");
    CHECK_NULL_ARG(tessera_session_absolute_deadline(NULL, &u), "session");
    CHECK_NULL_ARG(tessera_session_absolute_deadline(s, NULL), "at_out");
    CHECK_NULL_ARG(tessera_session_created_at(NULL, &u), "session");
    CHECK_NULL_ARG(tessera_session_created_at(s, NULL), "at_out");
    CHECK_NULL_ARG(tessera_session_last_seen(NULL, &u), "session");
    CHECK_NULL_ARG(tessera_session_last_seen(s, NULL), "at_out");
    CHECK_NULL_ARG(tessera_session_secure(NULL, &flag), "session");
    CHECK_NULL_ARG(tessera_session_secure(s, NULL), "secure_out");
    CHECK_NULL_ARG(tessera_session_data(NULL, &str), "session");
    CHECK_NULL_ARG(tessera_session_data(s, NULL), "json_out");
    CHECK_NULL_ARG(tessera_session_get(NULL, "k", &str), "session");
    CHECK_NULL_ARG(tessera_session_get(s, NULL, &str), "key");
    CHECK_NULL_ARG(tessera_session_get(s, "k", NULL), "json_out");
    CHECK_NULL_ARG(tessera_session_csrf_token(NULL, &str), "session");
    CHECK_NULL_ARG(tessera_session_csrf_token(s, NULL), "csrf_out");
    CHECK_NULL_ARG(tessera_session_verify_csrf(NULL, "c", &flag), "session");
    CHECK_NULL_ARG(tessera_session_verify_csrf(s, NULL, &flag), "candidate");
    CHECK_NULL_ARG(tessera_session_verify_csrf(s, "c", NULL), "valid_out");

    /* nothing was written through the out-parameters that were given */
    CHECK(mout == (tessera_manager *)0x1 && sout == (tessera_session *)0x1);
    CHECK(str == (char *)0x1 && cstr == (const char *)0x1);
    CHECK(flag && count == 77 && u == 77 && reason == TESSERA_REASON_NONE);
    CHECK(found == (tessera_cookie)7);
    CHECK_STR(buf, "untouched");

    /* the accessors and frees take NULL quietly */
    CHECK(tessera_event_kind(NULL) == NULL && tessera_event_id(NULL) == NULL);
    CHECK(tessera_event_previous_id(NULL) == NULL && tessera_event_user(NULL) == NULL);
    CHECK(tessera_event_reason(NULL) == NULL && tessera_event_at(NULL) == 0);
    CHECK(tessera_event_detail(NULL) == NULL);
    for (int i = 0; i < 2; i++) { /* twice: freeing NULL is always fine */
        tessera_manager_free(NULL);
        tessera_session_free(NULL);
        tessera_clock_free(NULL);
        tessera_string_free(NULL);
    }
    CHECK(1);
}

/* A free of something that is not a live handle changes nothing and says so (the racing case
 * is test_double_free.c). */
static void test_frees_of_what_is_not_live(tessera_manager *m) {
    char marker[] = "not a tessera string";
    tessera_string_free(marker);
    CHECK(strstr(tessera_last_error(), "string is not a live handle") != NULL);
    CHECK_STR(marker, "not a tessera string"); /* untouched: not zeroed, not released */
    tessera_string_free((char *)tessera_version());
    CHECK(strstr(tessera_last_error(), "string is not a live handle") != NULL);
    tessera_string_free((char *)tessera_last_error()); /* the borrowed message itself */
    CHECK(strstr(tessera_last_error(), "string is not a live handle") != NULL);
    char *kept = NULL;
    CHECK_OK(tessera_manager_clear_cookie(m, &kept));
    tessera_string_free(kept + 1); /* inside a live string, but not one Tessera returned */
    CHECK(strstr(tessera_last_error(), "string is not a live handle") != NULL);
    tessera_string_free(kept);
    long not_a_handle[8] = {0};
    tessera_manager_free((tessera_manager *)not_a_handle);
    CHECK(strstr(tessera_last_error(), "manager is not a live handle") != NULL);
    tessera_clock_free((tessera_clock *)not_a_handle);
    CHECK(strstr(tessera_last_error(), "clock is not a live handle") != NULL);
    CHECK(not_a_handle[0] == 0 && not_a_handle[7] == 0);

    /* A freed session handle, used again before any new session could take its memory, is
     * refused (a courtesy: using a freed handle remains a bug). */
    tessera_session *s = NULL;
    char id[TESSERA_ID_BUFFER_LEN] = "untouched";
    CHECK_OK(tessera_manager_create(m, "freed", NULL, false, NULL, &s));
    tessera_session_free(s);
    CHECK_INVALID(tessera_session_id(s, id, sizeof id));
    CHECK(strstr(tessera_last_error(), "session is not a live handle") != NULL);
    CHECK_STR(id, "untouched");
    const char *user = NULL;
    CHECK_INVALID(tessera_session_user(s, &user));
    CHECK(user == NULL);
    char *header = NULL;
    CHECK_INVALID(tessera_manager_set_cookie_for_session(m, s, &header));
    CHECK(header == NULL);
    tessera_session_free(s);
    CHECK(strstr(tessera_last_error(), "session is not a live handle") != NULL);
}

static void test_optional_outputs_may_be_null(tessera_manager *m) {
    tessera_session *s = NULL;
    CHECK_OK(tessera_manager_create(m, "opt", NULL, false, NULL, &s));
    char tok[TESSERA_TOKEN_BUFFER_LEN], id[TESSERA_ID_BUFFER_LEN];
    CHECK_OK(tessera_session_new_token(s, tok, sizeof tok));
    CHECK_OK(tessera_session_id(s, id, sizeof id));
    tessera_session_free(s);
    CHECK_STATUS(tessera_manager_validate(m, "bad", false, NULL, &s, NULL), TESSERA_STATUS_REJECTED);
    CHECK_STATUS(tessera_manager_rotate(m, "bad", false, NULL, &s, NULL), TESSERA_STATUS_REJECTED);
    char *csrf = NULL;
    CHECK_STATUS(tessera_manager_csrf_token(m, "bad", &csrf, NULL), TESSERA_STATUS_REJECTED);
    char buf[TESSERA_ID_BUFFER_LEN];
    CHECK_STATUS(tessera_manager_id_of(m, "bad", buf, sizeof buf, NULL), TESSERA_STATUS_REJECTED);
    CHECK_OK(tessera_manager_revoke_user_except(m, "opt", tok, NULL));
    CHECK_OK(tessera_manager_revoke(m, id, NULL));
    CHECK_STATUS(tessera_manager_data_set(m, id, "k", "1", NULL), TESSERA_STATUS_REJECTED);
    CHECK_OK(tessera_manager_logout(m, tok, NULL));
    CHECK_OK(tessera_manager_revoke_user(m, "opt", NULL));
    CHECK_OK(tessera_manager_sweep(m, NULL));
}

static void test_empty_strings(tessera_manager *m, const char *id) {
    tessera_session *s = NULL;
    tessera_reason reason = TESSERA_REASON_NONE;
    tessera_manager *m2 = NULL;
    CHECK_STATUS(tessera_manager_new("", NULL, &m2), TESSERA_STATUS_INVALID_CONFIG);
    CHECK_OK(tessera_manager_new("{}", NULL, &m2));
    tessera_manager_free(m2);
    CHECK_STATUS(tessera_manager_validate(m, "", false, "", &s, &reason), TESSERA_STATUS_REJECTED);
    CHECK(reason == TESSERA_REASON_MALFORMED);
    CHECK_INVALID(tessera_manager_create(m, "", NULL, false, NULL, &s));
    CHECK(strstr(tessera_last_error(), "user") != NULL);
    CHECK_INVALID(tessera_manager_create(m, NULL, "", false, NULL, &s));
    CHECK_INVALID(tessera_manager_login(m, NULL, "", false, NULL, &s));
    CHECK_OK(tessera_manager_login(m, "", "u", false, "", &s)); /* dead token: a new session */
    tessera_session_free(s);
    CHECK_INVALID(tessera_manager_revoke(m, "", NULL));
    CHECK_INVALID(tessera_manager_revoke_user(m, "", NULL));
    CHECK_INVALID(tessera_manager_list_user(m, "", &(char *){NULL}));
    CHECK_INVALID(tessera_manager_data_set(m, id, "", "1", NULL));
    CHECK_INVALID(tessera_manager_data_set(m, id, "k", "", NULL));
    CHECK_INVALID(tessera_manager_data_replace(m, id, "", NULL));
    CHECK_OK(tessera_manager_data_remove(m, id, "", NULL));
    bool valid = true;
    CHECK_OK(tessera_manager_verify_csrf(m, "", "", &valid));
    CHECK(!valid);
    char buf[TESSERA_TOKEN_BUFFER_LEN];
    tessera_cookie found = TESSERA_COOKIE_ONE;
    CHECK_OK(tessera_manager_cookie_token(m, "", buf, sizeof buf, &found));
    CHECK(found == TESSERA_COOKIE_ABSENT);
    CHECK_OK(tessera_manager_cookie_token(m, "sid=", buf, sizeof buf, &found));
    CHECK(found == TESSERA_COOKIE_ONE && buf[0] == '\0');
}

static void test_not_utf8(tessera_manager *m, tessera_session *s, const char *tok, const char *id) {
    tessera_session *out = NULL;
    tessera_manager *mout = NULL;
    tessera_reason reason = TESSERA_REASON_NONE;
    char buf[TESSERA_ID_BUFFER_LEN];
    char *str = NULL;
    bool flag = false;
#define CHECK_UTF8(call, name)                                                               \
    do {                                                                                     \
        CHECK_INVALID(call);                                                                 \
        CHECK(strstr(tessera_last_error(), name " is not valid UTF-8") != NULL);             \
        CHECK(strstr(tessera_last_error(), "\xff") == NULL);                                 \
    } while (0)
    CHECK_UTF8(tessera_manager_new(NOT_UTF8, NULL, &mout), "options_json");
    CHECK_UTF8(tessera_manager_validate(m, NOT_UTF8, true, NULL, &out, &reason), "token");
    CHECK_UTF8(tessera_manager_rotate(m, NOT_UTF8, true, NULL, &out, &reason), "token");
    CHECK_UTF8(tessera_manager_create(m, NOT_UTF8, NULL, false, NULL, &out), "user");
    CHECK_UTF8(tessera_manager_create(m, NULL, NOT_UTF8, false, NULL, &out), "data_json");
    CHECK_UTF8(tessera_manager_login(m, NOT_UTF8, "u", false, NULL, &out), "token");
    CHECK_UTF8(tessera_manager_login(m, NULL, NOT_UTF8, false, NULL, &out), "user");
    CHECK_UTF8(tessera_manager_logout(m, NOT_UTF8, &flag), "token");
    CHECK_UTF8(tessera_manager_revoke(m, NOT_UTF8, &flag), "id");
    CHECK_UTF8(tessera_manager_revoke_user(m, NOT_UTF8, NULL), "user");
    CHECK_UTF8(tessera_manager_revoke_user_except(m, "u", NOT_UTF8, NULL), "token");
    CHECK_UTF8(tessera_manager_list_user(m, NOT_UTF8, &str), "user");
    CHECK_UTF8(tessera_manager_csrf_token(m, NOT_UTF8, &str, &reason), "token");
    CHECK_UTF8(tessera_manager_verify_csrf(m, tok, NOT_UTF8, &flag), "candidate");
    CHECK_UTF8(tessera_manager_id_of(m, NOT_UTF8, buf, sizeof buf, &reason), "token");
    CHECK_UTF8(tessera_manager_data_set(m, id, NOT_UTF8, "1", NULL), "key");
    CHECK_UTF8(tessera_manager_data_set(m, id, "k", NOT_UTF8, NULL), "value_json");
    CHECK_UTF8(tessera_manager_data_remove(m, id, NOT_UTF8, NULL), "key");
    CHECK_UTF8(tessera_manager_data_replace(m, id, NOT_UTF8, NULL), "data_json");
    CHECK_UTF8(tessera_manager_set_cookie(m, NOT_UTF8, &str), "token");
    CHECK_UTF8(tessera_session_get(s, NOT_UTF8, &str), "key");
    CHECK_UTF8(tessera_session_verify_csrf(s, NOT_UTF8, &flag), "candidate");
#undef CHECK_UTF8
    CHECK(out == NULL && mout == NULL && str == NULL && reason == TESSERA_REASON_NONE);
}

/* The raw client headers are the exception: a Latin-1 byte in a User-Agent or in some other
 * cookie must not lock a browser out of its session. */
static void test_client_headers_are_lenient(tessera_manager *m, const char *tok) {
    tessera_session *s = NULL;
    tessera_reason reason = TESSERA_REASON_NONE;
    CHECK_OK(tessera_manager_validate(m, tok, false, "Mozilla/5.0 (caf\xe9)", &s, &reason));
    tessera_session_free(s);
    CHECK_OK(tessera_manager_login(m, NULL, "latin1", false, "agent \xe9\xff", &s));
    tessera_session_free(s);
    char *list = NULL;
    CHECK_OK(tessera_manager_list_user(m, "latin1", &list));
    CHECK(list != NULL && strstr(list, "\"user_agent\":\"agent \xef\xbf\xbd\xef\xbf\xbd\"") != NULL);
    tessera_string_free(list);
    char header[200], buf[TESSERA_TOKEN_BUFFER_LEN];
    tessera_cookie found = TESSERA_COOKIE_ABSENT;
    snprintf(header, sizeof header, "theme=caf\xe9; sid=%s; x\xff=1", tok);
    CHECK_OK(tessera_manager_cookie_token(m, header, buf, sizeof buf, &found));
    CHECK(found == TESSERA_COOKIE_ONE);
    CHECK_STR(buf, tok);
    /* a session cookie with an invalid byte in its value is one cookie, malformed */
    CHECK_OK(tessera_manager_cookie_token(m, "sid=\xff\xfe", buf, sizeof buf, &found));
    CHECK(found == TESSERA_COOKIE_ONE);
    CHECK_STATUS(tessera_manager_validate(m, buf, false, NULL, &s, &reason), TESSERA_STATUS_REJECTED);
    CHECK(reason == TESSERA_REASON_MALFORMED);
    /* ... and an invalid byte cannot make another cookie's name match */
    CHECK_OK(tessera_manager_cookie_token(m, "si\xff=1; s\xff" "d=2", buf, sizeof buf, &found));
    CHECK(found == TESSERA_COOKIE_ABSENT);
}

static void test_huge_strings(tessera_manager *m, tessera_session *s, const char *id) {
    char *big = repeat('A', MIB); /* base64url alphabet, but far too long for a token */
    tessera_session *out = NULL;
    tessera_reason reason = TESSERA_REASON_NONE;
    CHECK_STATUS(tessera_manager_validate(m, big, false, big, &out, &reason),
                 TESSERA_STATUS_REJECTED);
    CHECK(reason == TESSERA_REASON_MALFORMED && out == NULL);
    CHECK(strlen(tessera_last_error()) < 200);
    CHECK_INVALID(tessera_manager_create(m, big, NULL, false, NULL, &out)); /* user > 1024 */
    CHECK(strlen(tessera_last_error()) < 200);
    CHECK_INVALID(tessera_manager_revoke(m, big, NULL));
    CHECK_INVALID(tessera_manager_revoke_user(m, big, NULL));
    bool valid = true;
    CHECK_OK(tessera_manager_verify_csrf(m, big, big, &valid));
    CHECK(!valid);
    CHECK_OK(tessera_session_verify_csrf(s, big, &valid));
    CHECK(!valid);
    char *got = (char *)0x1;
    CHECK_OK(tessera_session_get(s, big, &got));
    CHECK(got == NULL);

    /* a 1 MiB user agent is recorded clipped to 256 bytes */
    CHECK_OK(tessera_manager_login(m, NULL, "ua-user", false, big, &out));
    tessera_session_free(out);
    char *list = NULL;
    CHECK_OK(tessera_manager_list_user(m, "ua-user", &list));
    CHECK(list != NULL && strlen(list) < 1000);
    tessera_string_free(list);

    /* 1 MiB of data: too large, and the session keeps what it had */
    char *json = malloc(MIB + 32);
    snprintf(json, MIB + 32, "{\"k\": \"%s\"}", big);
    CHECK_STATUS(tessera_manager_create(m, NULL, json, false, NULL, &out),
                 TESSERA_STATUS_DATA_TOO_LARGE);
    CHECK_STATUS(tessera_manager_data_replace(m, id, json, NULL), TESSERA_STATUS_DATA_TOO_LARGE);
    snprintf(json, MIB + 32, "\"%s\"", big);
    CHECK_STATUS(tessera_manager_data_set(m, id, "k", json, NULL), TESSERA_STATUS_DATA_TOO_LARGE);
    CHECK(strlen(tessera_last_error()) < 200);
    CHECK_STATUS(tessera_manager_data_set(m, id, big, "1", NULL), TESSERA_STATUS_DATA_TOO_LARGE);

    /* a 1 MiB cookie header with a 1 MiB session cookie: one value, too long to be a token */
    snprintf(json, MIB + 32, "sid=%s", big);
    char buf[TESSERA_TOKEN_BUFFER_LEN] = "untouched";
    tessera_cookie found = TESSERA_COOKIE_ABSENT;
    CHECK_OK(tessera_manager_cookie_token(m, json, buf, sizeof buf, &found));
    CHECK(found == TESSERA_COOKIE_ONE && buf[0] == '\0');

    /* 1 MiB of options: a long cookie name is refused or accepted, never a crash */
    snprintf(json, MIB + 32, "{\"cookie_name\": \"%s\", \"cookie_secure\": false}", big);
    tessera_manager *m2 = NULL;
    tessera_status st = tessera_manager_new(json, NULL, &m2);
    CHECK(st == TESSERA_STATUS_OK || st == TESSERA_STATUS_INVALID_CONFIG);
    tessera_manager_free(m2);
    memset(json, ' ', MIB);
    strcpy(json + MIB, "{}");
    CHECK_OK(tessera_manager_new(json, NULL, &m2));
    tessera_manager_free(m2);

    free(json);
    free(big);
}

static void test_buffers_and_json(tessera_manager *m, tessera_session *s, const char *tok,
                                  const char *id) {
    char small[TESSERA_TOKEN_BUFFER_LEN - 1];
    memcpy(small, "untouched", 10);
    CHECK_INVALID(tessera_session_new_token(s, small, sizeof small));
    CHECK(strstr(tessera_last_error(), "needs at least 44") != NULL);
    CHECK_STR(small, "untouched");
    CHECK_INVALID(tessera_session_new_token(s, small, 0));
    char id_small[TESSERA_ID_BUFFER_LEN - 1] = "untouched";
    CHECK_INVALID(tessera_session_id(s, id_small, sizeof id_small));
    CHECK_INVALID(tessera_manager_id_of(m, tok, id_small, sizeof id_small, NULL));
    CHECK_STR(id_small, "untouched");
    tessera_cookie found = TESSERA_COOKIE_ABSENT;
    CHECK_INVALID(tessera_manager_cookie_token(m, "a=1", small, sizeof small, &found));
    CHECK(found == TESSERA_COOKIE_ABSENT);

    /* JSON that is not what was asked for */
    tessera_session *out = NULL;
    CHECK_INVALID(tessera_manager_create(m, NULL, "[1,2]", false, NULL, &out));
    CHECK_INVALID(tessera_manager_create(m, NULL, "{\"a\":", false, NULL, &out));
    CHECK_INVALID(tessera_manager_data_set(m, id, "k", "{", NULL));
    CHECK_INVALID(tessera_manager_data_set(m, id, "k", "1 2", NULL));
    CHECK_INVALID(tessera_manager_data_replace(m, id, "null", NULL));
    CHECK(out == NULL);
    /* a NUL escaped inside JSON text survives the round trip as an escape */
    CHECK_OK(tessera_manager_data_set(m, id, "nul", "\"a\\u0000b\"", NULL));
    tessera_reason reason;
    CHECK_OK(tessera_manager_validate(m, tok, false, NULL, &out, &reason));
    char *v = NULL;
    CHECK_OK(tessera_session_get(out, "nul", &v));
    CHECK_STR(v, "\"a\\u0000b\"");
    tessera_string_free(v);
    tessera_session_free(out);

    /* ids that are not 64 hex digits */
    CHECK_INVALID(tessera_manager_revoke(m, "zz", NULL));
    char upper[TESSERA_ID_BUFFER_LEN];
    for (int i = 0; i < 64; i++) upper[i] = (char)(id[i] >= 'a' ? id[i] - 32 : id[i]);
    upper[64] = '\0';
    CHECK_OK(tessera_manager_data_set(m, upper, "k", "1", NULL)); /* either case is accepted */

    /* numbers that are not enum values */
    CHECK(tessera_status_str(-1) == NULL && tessera_status_str(8) == NULL);
    CHECK(tessera_status_str(1 << 30) == NULL);
    CHECK(tessera_reason_str(-5) == NULL && tessera_reason_str(6) == NULL);
    CHECK_STR(tessera_reason_str(TESSERA_REASON_BINDING_MISSING), "binding_missing");
}

/* The per-request calls: NULL in every pointer, numbers that are not enum values, text that is
 * not JSON, a request used after its finish, a response after its free. A failed finish that
 * checked its arguments first leaves the request alive and unchanged. */
static void test_request_hostile(tessera_manager *m) {
    tessera_request *r = (tessera_request *)0x1;
    tessera_response *resp = (tessera_response *)0x1;
    char id[TESSERA_ID_BUFFER_LEN] = "untouched";
    char *str = (char *)0x1;
    const char *cstr = (const char *)0x1;
    bool flag = true;
    tessera_reason reason = (tessera_reason)7;
    tessera_csrf csrf = (tessera_csrf)7;

    CHECK_NULL_ARG(tessera_request_begin(NULL, NULL, false, "GET", NULL, NULL, &r), "manager");
    CHECK_NULL_ARG(tessera_request_begin(m, NULL, false, NULL, NULL, NULL, &r), "method");
    CHECK_NULL_ARG(tessera_request_begin(m, NULL, false, "GET", NULL, NULL, NULL), "request_out");
    CHECK(r == (tessera_request *)0x1);
    /* The client's bytes are lenient: a Latin-1 cookie header, method, agent or CSRF header is
     * an anonymous request, not an error. */
    CHECK_OK(tessera_request_begin(m, NOT_UTF8, false, NOT_UTF8, NOT_UTF8, NOT_UTF8, &r));
    CHECK_OK(tessera_request_csrf(r, &csrf));
    CHECK(csrf == TESSERA_CSRF_INVALID);
    tessera_request_free(r);
    char *huge = repeat('c', MIB);
    CHECK_OK(tessera_request_begin(m, huge, true, "GET", huge, huge, &r));
    CHECK_OK(tessera_request_reason(r, &reason));
    CHECK(reason == TESSERA_REASON_NONE); /* no cookie of the session's name in it */
    tessera_request_free(r);
    memcpy(huge, "sid=", 4); /* a session cookie of 1 MiB: malformed, cleared */
    CHECK_OK(tessera_request_begin(m, huge, true, "GET", NULL, NULL, &r));
    CHECK_OK(tessera_request_reason(r, &reason));
    CHECK(reason == TESSERA_REASON_MALFORMED);
    tessera_request_free(r);
    free(huge);

    CHECK_OK(tessera_request_begin(m, "sid=forged", false, "POST", "ua", "forged", &r));
    CHECK_NULL_ARG(tessera_request_user(NULL, &cstr), "request");
    CHECK_NULL_ARG(tessera_request_user(r, NULL), "user_out");
    CHECK_NULL_ARG(tessera_request_data_json(NULL, &str), "request");
    CHECK_NULL_ARG(tessera_request_data_json(r, NULL), "json_out");
    CHECK_NULL_ARG(tessera_request_id(NULL, id, sizeof id, &flag), "request");
    CHECK_NULL_ARG(tessera_request_id(r, NULL, sizeof id, &flag), "id_out");
    CHECK_NULL_ARG(tessera_request_id(r, id, sizeof id, NULL), "present_out");
    CHECK_INVALID(tessera_request_id(r, id, TESSERA_ID_BUFFER_LEN - 1, &flag));
    CHECK_NULL_ARG(tessera_request_ensure_id(NULL, m, id, sizeof id), "request");
    CHECK_NULL_ARG(tessera_request_ensure_id(r, NULL, id, sizeof id), "manager");
    CHECK_NULL_ARG(tessera_request_ensure_id(r, m, NULL, sizeof id), "id_out");
    CHECK_INVALID(tessera_request_ensure_id(r, m, id, 10));
    CHECK_STR(id, "untouched");
    CHECK_NULL_ARG(tessera_request_reason(NULL, &reason), "request");
    CHECK_NULL_ARG(tessera_request_reason(r, NULL), "reason_out");
    CHECK_NULL_ARG(tessera_request_csrf(NULL, &csrf), "request");
    CHECK_NULL_ARG(tessera_request_csrf(r, NULL), "csrf_out");
    CHECK_NULL_ARG(tessera_request_verify_csrf(NULL, "x", &flag), "request");
    CHECK_NULL_ARG(tessera_request_verify_csrf(r, NULL, &flag), "candidate");
    CHECK_NULL_ARG(tessera_request_verify_csrf(r, "x", NULL), "valid_out");
    CHECK_NULL_ARG(tessera_request_ended(NULL, &flag), "request");
    CHECK_NULL_ARG(tessera_request_ended(r, NULL), "ended_out");
    CHECK_NULL_ARG(tessera_request_login(NULL, m, "u"), "request");
    CHECK_NULL_ARG(tessera_request_login(r, NULL, "u"), "manager");
    CHECK_NULL_ARG(tessera_request_login(r, m, NULL), "user");
    CHECK_INVALID(tessera_request_login(r, m, ""));
    CHECK_INVALID(tessera_request_login(r, m, NOT_UTF8));
    CHECK_NULL_ARG(tessera_request_logout(NULL, m, &flag), "request");
    CHECK_NULL_ARG(tessera_request_logout(r, NULL, &flag), "manager");
    CHECK_NULL_ARG(tessera_request_regenerate(NULL, m, &flag), "request");
    CHECK_NULL_ARG(tessera_request_regenerate(r, NULL, &flag), "manager");
    CHECK_NULL_ARG(tessera_request_csrf_token(NULL, m, &str), "request");
    CHECK_NULL_ARG(tessera_request_csrf_token(r, NULL, &str), "manager");
    CHECK_NULL_ARG(tessera_request_csrf_token(r, m, NULL), "csrf_out");
    CHECK(str == (char *)0x1);
    CHECK_NULL_ARG(tessera_request_set_expiry(NULL, m, TESSERA_EXPIRY_POLICY, 0), "request");
    CHECK_NULL_ARG(tessera_request_set_expiry(r, NULL, TESSERA_EXPIRY_POLICY, 0), "manager");
    CHECK_INVALID(tessera_request_set_expiry(r, m, TESSERA_EXPIRY_NONE, 0));
    CHECK_INVALID(tessera_request_set_expiry(r, m, 6, 0));
    CHECK_INVALID(tessera_request_set_expiry(r, m, -1, 0));

    /* finish consumes a live request in every case, also when it refuses an argument: the
     * request is gone, nothing was written, and no response came out. */
#define FINISH(req, mgr, data, auth, user, expiry, out)                                          \
    tessera_request_finish(req, mgr, data, auth, user, false, expiry, 0, false, false, out)
#define REFUSED(call, why)                                                                       \
    do {                                                                                         \
        tessera_request *fresh_ = NULL;                                                          \
        CHECK_OK(tessera_request_begin(m, NULL, false, "POST", NULL, NULL, &fresh_));             \
        r = fresh_;                                                                              \
        resp = (tessera_response *)0x1;                                                          \
        CHECK_INVALID(call);                                                                     \
        CHECK(strstr(tessera_last_error(), why) != NULL);                                        \
        CHECK(resp == NULL); /* a refusal sets the out-parameter to NULL */                     \
        CHECK_INVALID(tessera_request_ended(fresh_, &flag));                                     \
        CHECK(strstr(tessera_last_error(), "request is not a live handle") != NULL);             \
    } while (0)
    tessera_request *kept = r;
    size_t before = 0, stored = 99;
    CHECK_OK(tessera_manager_store_len(m, &before));
    CHECK_NULL_ARG(FINISH(NULL, m, NULL, TESSERA_AUTH_UNCHANGED, NULL, 0, &resp), "request");
    REFUSED(FINISH(r, NULL, NULL, TESSERA_AUTH_UNCHANGED, NULL, 0, &resp), "manager must not be");
    CHECK_OK(tessera_request_begin(m, NULL, false, "POST", NULL, NULL, &r));
    CHECK_NULL_ARG(FINISH(r, m, NULL, TESSERA_AUTH_UNCHANGED, NULL, 0, NULL), "response_out");
    CHECK_INVALID(tessera_request_ended(r, &flag)); /* consumed all the same */
    REFUSED(FINISH(r, m, NULL, TESSERA_AUTH_LOGGED_IN, NULL, 0, &resp), "user must not be NULL");
    REFUSED(FINISH(r, m, NULL, TESSERA_AUTH_UNCHANGED, "u", 0, &resp), "user must be NULL");
    REFUSED(FINISH(r, m, NULL, TESSERA_AUTH_LOGGED_OUT, "u", 0, &resp), "user must be NULL");
    REFUSED(FINISH(r, m, NULL, 4, NULL, 0, &resp), "not a tessera_auth value");
    REFUSED(FINISH(r, m, NULL, -1, NULL, 0, &resp), "not a tessera_auth value");
    REFUSED(FINISH(r, m, NULL, TESSERA_AUTH_UNCHANGED, NULL, 99, &resp), "not a tessera_expiry");
    REFUSED(FINISH(r, m, "not json", TESSERA_AUTH_UNCHANGED, NULL, 0, &resp), "not valid JSON");
    REFUSED(FINISH(r, m, "[1, 2]", TESSERA_AUTH_UNCHANGED, NULL, 0, &resp), "a JSON object");
    REFUSED(FINISH(r, m, NOT_UTF8, TESSERA_AUTH_UNCHANGED, NULL, 0, &resp), "not valid UTF-8");
    CHECK_OK(tessera_manager_store_len(m, &stored));
    CHECK(stored == before); /* none of the refused finishes wrote anything */
    /* the first request, untouched by all that: a forged cookie, anonymous */
    r = kept;
    CHECK_OK(tessera_request_reason(r, &reason));
    CHECK(reason == TESSERA_REASON_MALFORMED);
    CHECK_OK(tessera_request_csrf(r, &csrf));
    CHECK(csrf == TESSERA_CSRF_INVALID);
    CHECK_OK(FINISH(r, m, "{}", TESSERA_AUTH_UNCHANGED, NULL, 0, &resp));

    /* the request was consumed: using it again is refused, not a read of freed memory */
    CHECK_INVALID(tessera_request_user(r, &cstr));
    CHECK(strstr(tessera_last_error(), "request is not a live handle") != NULL);
    CHECK_INVALID(FINISH(r, m, NULL, TESSERA_AUTH_UNCHANGED, NULL, 0, &resp));
    CHECK(strstr(tessera_last_error(), "request is not a live handle") != NULL);
    tessera_request_free(r);
    CHECK(strstr(tessera_last_error(), "request is not a live handle") != NULL);

    CHECK_NULL_ARG(tessera_response_set_cookie(NULL, &cstr), "response");
    CHECK_NULL_ARG(tessera_response_set_cookie(resp, NULL), "set_cookie_out");
    CHECK_NULL_ARG(tessera_response_no_store(NULL, &flag), "response");
    CHECK_NULL_ARG(tessera_response_no_store(resp, NULL), "no_store_out");
    CHECK_NULL_ARG(tessera_response_user(NULL, &cstr), "response");
    CHECK_NULL_ARG(tessera_response_user(resp, NULL), "user_out");
    CHECK_NULL_ARG(tessera_response_session_id(NULL, id, sizeof id, &flag), "response");
    CHECK_NULL_ARG(tessera_response_session_id(resp, NULL, sizeof id, &flag), "id_out");
    CHECK_NULL_ARG(tessera_response_session_id(resp, id, sizeof id, NULL), "present_out");
    CHECK_INVALID(tessera_response_session_id(resp, id, 1, &flag));
    size_t count = 0;
    CHECK_NULL_ARG(tessera_response_header_count(NULL, &count), "response");
    CHECK_NULL_ARG(tessera_response_header_count(resp, NULL), "count_out");
    CHECK_NULL_ARG(tessera_response_header(NULL, 0, &cstr, &cstr), "response");
    CHECK_NULL_ARG(tessera_response_header(resp, 0, NULL, &cstr), "name_out");
    CHECK_NULL_ARG(tessera_response_header(resp, 0, &cstr, NULL), "value_out");
    CHECK_OK(tessera_response_header_count(resp, &count));
    CHECK(count == 2); /* the clearing Set-Cookie and Cache-Control */
    const char *name = NULL, *value = NULL;
    CHECK_INVALID(tessera_response_header(resp, count, &name, &value));
    CHECK_INVALID(tessera_response_header(resp, SIZE_MAX, &name, &value));
    CHECK(name == NULL && value == NULL);
    CHECK_OK(tessera_response_header(resp, 1, &name, &value));
    CHECK_STR(name, TESSERA_CACHE_CONTROL_NAME);
    CHECK_STR(value, TESSERA_CACHE_CONTROL_VALUE);
    CHECK_NULL_ARG(tessera_response_ended(NULL, &flag), "response");
    CHECK_NULL_ARG(tessera_response_ended(resp, NULL), "ended_out");
    /* the forged cookie is cleared, with no-store */
    CHECK_OK(tessera_response_set_cookie(resp, &cstr));
    CHECK(cstr != NULL && strstr(cstr, "Max-Age=0") != NULL);
    CHECK_OK(tessera_response_no_store(resp, &flag));
    CHECK(flag);
    tessera_response_free(resp);
    CHECK_INVALID(tessera_response_no_store(resp, &flag));
    CHECK(strstr(tessera_last_error(), "response is not a live handle") != NULL);
    tessera_response_free(resp);
    CHECK(strstr(tessera_last_error(), "response is not a live handle") != NULL);
    tessera_request_free(NULL);
    tessera_response_free(NULL);
    long not_a_handle[8] = {0};
    tessera_request_free((tessera_request *)not_a_handle);
    CHECK(strstr(tessera_last_error(), "request is not a live handle") != NULL);
    tessera_response_free((tessera_response *)not_a_handle);
    CHECK(strstr(tessera_last_error(), "response is not a live handle") != NULL);
    CHECK(not_a_handle[0] == 0);
#undef FINISH
#undef REFUSED
}

int main(void) {
    tessera_manager *m = NULL;
    CHECK_OK(tessera_manager_new("{\"cookie_name\": \"sid\", \"cookie_secure\": false,"
                                 " \"sweep_interval_ms\": null}",
                                 NULL, &m));
    CHECK(strcmp(tessera_last_error(), "") == 0); /* nothing has failed on this thread yet */
    tessera_session *s = NULL;
    CHECK_OK(tessera_manager_create(m, "mallory", "{\"a\": 1}", false, NULL, &s));
    char tok[TESSERA_TOKEN_BUFFER_LEN], id[TESSERA_ID_BUFFER_LEN];
    CHECK_OK(tessera_session_new_token(s, tok, sizeof tok));
    CHECK_OK(tessera_session_id(s, id, sizeof id));

    test_null_everywhere(m, s, tok, id);
    test_optional_outputs_may_be_null(m);
    test_frees_of_what_is_not_live(m);
    test_empty_strings(m, id);
    test_not_utf8(m, s, tok, id);
    test_client_headers_are_lenient(m, tok);
    test_huge_strings(m, s, id);
    test_buffers_and_json(m, s, tok, id);
    test_request_hostile(m);

    /* after all that, the session is still fine */
    tessera_session *again = NULL;
    tessera_reason reason;
    CHECK_OK(tessera_manager_validate(m, tok, false, NULL, &again, &reason));
    tessera_session_free(again);
    tessera_session_free(s);
    tessera_manager_free(m);
    return check_summary();
}
