/* bridge_helpers.c - fixtures for the bridge's C tests (bridge_helpers.h). */
#define _GNU_SOURCE
#include "bridge_helpers.h"

#include <ftw.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

char *tmpdir_make(void)
{
	const char *base = getenv("TMPDIR");
	char *p;
	if (base == NULL || *base == '\0')
		base = "/tmp";
	if (asprintf(&p, "%s/veld-bridge-XXXXXX", base) < 0 || mkdtemp(p) == NULL)
		fail_msg("cannot make a temporary directory");
	return p;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

void rm_rf(const char *dir)
{
	if (dir != NULL)
		nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

veld_session *session_at(const char *dir, int create)
{
	veld_session *s = NULL;
	int32_t (*fn)(veld_session **, const uint8_t *, size_t, const uint8_t *, size_t,
	              const uint8_t *, size_t) = create ? veld_session_create : veld_session_open;
	ok(fn(&s, U8(dir), strlen(dir), U8(TEST_PASS), strlen(TEST_PASS), U8(TEST_OPTS),
	      strlen(TEST_OPTS)));
	assert_non_null(s);
	return s;
}

char *jcall(json_fn fn, veld_session *s, const char *request, int32_t *rc_out)
{
	veld_buf *b = NULL;
	char *r = NULL;
	int32_t rc = fn(s, U8(request), request ? strlen(request) : 0, &b);
	if (rc_out != NULL)
		*rc_out = rc;
	if (rc == VELD_OK) {
		assert_non_null(b);
		/* The buffer is NUL-terminated, and its length does not count it. */
		assert_int_equal(veld_buf_data(b)[veld_buf_len(b)], 0);
		r = strndup((const char *)veld_buf_data(b), veld_buf_len(b));
	} else {
		assert_null(b);
		assert_int_equal(veld_bridge_error_code(), rc);
	}
	veld_buf_free(b);
	return r;
}

char *jok(json_fn fn, veld_session *s, const char *request)
{
	int32_t rc;
	char *r = jcall(fn, s, request, &rc);
	if (rc != VELD_OK)
		fail_msg("request %s -> %s: %s", request, veld_bridge_code_name(rc),
		         (const char *)veld_bridge_error_message(NULL));
	return r;
}

char *jstr(const char *json, const char *key)
{
	json_t *j = json_loads(json, 0, NULL);
	const char *v = json_string_value(json_object_get(j, key));
	char *r = v != NULL ? strdup(v) : NULL;
	json_decref(j);
	return r;
}

size_t count_of(const char *hay, const char *needle)
{
	size_t n = 0, k = strlen(needle);
	for (const char *p = hay; (p = strstr(p, needle)) != NULL; p += k)
		n++;
	return n;
}
