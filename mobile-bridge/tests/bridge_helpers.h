/* bridge_helpers.h - fixtures shared by the bridge's C tests: temporary
 * directories, sessions with the cheapest key derivation, JSON calls with
 * C strings. */
#ifndef VELD_BRIDGE_HELPERS_H
#define VELD_BRIDGE_HELPERS_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "veld_bridge.h"

#define TEST_PASS "bridge test passphrase"
/* The lowest Argon2id cost the store accepts, so tests stay fast. */
#define TEST_OPTS "{\"user\":\"anna\",\"team\":\"noord\",\"kdf_memory_mib\":19,\"kdf_passes\":2}"

#define U8(s) ((const uint8_t *)(s))

/* Fail the test with the bridge's message unless the call returned VELD_OK. */
#define ok(call) do { int32_t rc_ = (call); if (rc_ != VELD_OK) \
	fail_msg("%s -> %s: %s", #call, veld_bridge_code_name(rc_), \
	         (const char *)veld_bridge_error_message(NULL)); } while (0)

/* A fresh directory under $TMPDIR (or /tmp); remove with rm_rf. */
char *tmpdir_make(void);
void rm_rf(const char *dir);

/* A new store in `dir` (create) or the existing one (open), with TEST_PASS. */
veld_session *session_at(const char *dir, int create);

/* Call a JSON function with a C-string request; returns the result as a
 * malloc'd C string (NULL when the call failed; *rc_out gets the code). */
typedef int32_t (*json_fn)(veld_session *, const uint8_t *, size_t, veld_buf **);
char *jcall(json_fn fn, veld_session *s, const char *request, int32_t *rc_out);
/* The same, failing the test unless it succeeds. */
char *jok(json_fn fn, veld_session *s, const char *request);

/* The string value of "key":"..." at the top level of a flat JSON object
 * result (malloc'd; NULL if absent). Enough for ids. */
char *jstr(const char *json, const char *key);

/* Count occurrences of a needle. */
size_t count_of(const char *hay, const char *needle);

#endif
