/* helpers.h - shared fixtures for the unit tests. */
#ifndef VELD_TEST_HELPERS_H
#define VELD_TEST_HELPERS_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "veld.h"

#define TEST_PASS "correct horse battery staple"

/* A fresh temporary directory (caller frees the string after rm_rf). */
char *tmpdir_new(void);
/* Remove a directory tree. */
void rm_rf(const char *dir);
/* Options with the cheapest KDF the store allows, so tests stay fast. */
veld_store_options fast_opts(const char *user, const char *team);
/* Create a store in a new temp dir; *dir_out gets the directory. */
veld_store *store_new(char **dir_out, const char *user, const char *team);
/* Create a record and return its id (malloc'd). Fails the test on error. */
char *create(veld_store *s, const char *kind, const char *fields_json);
/* Read a whole file (malloc'd); *len gets its size. NULL if absent. */
uint8_t *slurp(const char *path, size_t *len);
/* Does `hay` contain `needle` anywhere? */
int mem_contains(const uint8_t *hay, size_t n, const char *needle);
/* This store's access log as veld_audit_list gives it (a jansson array;
 * the caller releases it with json_decref). Fails the test on error. */
struct json_t;
struct json_t *audit_entries(veld_store *s);
/* Assert an API call returned VELD_OK, printing veld_error_last() if not. */
#define ok(call) do { int rc_ = (call); if (rc_ != VELD_OK) \
	fail_msg("%s -> %d: %s", #call, rc_, veld_error_last()); } while (0)

#endif
