#define _XOPEN_SOURCE 700
#include "helpers.h"

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <jansson.h>

char *tmpdir_new(void)
{
	char tmpl[] = "/tmp/veld-test-XXXXXX";
	char *d = mkdtemp(tmpl);
	assert_non_null(d);
	return strdup(d);
}

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb; (void)flag; (void)ftw;
	return remove(path);
}

void rm_rf(const char *dir)
{
	nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

veld_store_options fast_opts(const char *user, const char *team)
{
	veld_store_options o = VELD_STORE_OPTIONS_INIT;
	o.kdf_opslimit = VELD_KDF_OPSLIMIT_MIN;
	o.kdf_memlimit = VELD_KDF_MEMLIMIT_MIN;
	o.user = user;
	o.role = "worker";
	o.team = team;
	return o;
}

veld_store *store_new(char **dir_out, const char *user, const char *team)
{
	veld_store *s = NULL;
	veld_store_options o = fast_opts(user, team);
	char *d = tmpdir_new();
	char sub[512];
	snprintf(sub, sizeof sub, "%s/store", d);
	ok(veld_store_create(&s, sub, TEST_PASS, strlen(TEST_PASS), &o));
	*dir_out = d;
	return s;
}

char *create(veld_store *s, const char *kind, const char *fields_json)
{
	char *out = NULL, *id;
	json_t *j;
	ok(veld_record_create(s, kind, fields_json, NULL, &out));
	j = json_loads(out, 0, NULL);
	assert_non_null(j);
	id = strdup(json_string_value(json_object_get(j, "id")));
	json_decref(j);
	veld_free(out);
	return id;
}

uint8_t *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	uint8_t *b;
	long n;
	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	b = malloc((size_t)n + 1);
	if (fread(b, 1, (size_t)n, f) != (size_t)n) {
		free(b);
		fclose(f);
		return NULL;
	}
	fclose(f);
	*len = (size_t)n;
	return b;
}

int mem_contains(const uint8_t *hay, size_t n, const char *needle)
{
	size_t m = strlen(needle);
	for (size_t i = 0; i + m <= n; i++)
		if (memcmp(hay + i, needle, m) == 0)
			return 1;
	return 0;
}

json_t *audit_entries(veld_store *s)
{
	char *out = NULL;
	json_t *j;
	ok(veld_audit_list(s, NULL, &out));
	j = json_loads(out, 0, NULL);
	veld_free(out);
	assert_non_null(j);
	return j;
}
