/* e2e.h - fixtures for end-to-end tests: a real `veld serve` process on
 * 127.0.0.1, an office store and device stores in temporary directories. */
#ifndef VELD_E2E_H
#define VELD_E2E_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <sys/types.h>
#include <cmocka.h>

#include "veld.h"
#include "veld_sync.h"

#define E2E_PASS "end to end test passphrase"

#define ok(call) do { int rc_ = (call); if (rc_ != VELD_OK) \
	fail_msg("%s -> %d: %s", #call, rc_, veld_error_last()); } while (0)

struct e2e_server {
	pid_t pid;
	uint16_t port;
	char dir[256];  /* data directory */
	char url[64];
	char out[300];  /* the process's stdout and stderr, in files */
	char err[300];
};

/* Path of the veld binary under test (argv[1] of the test program). */
extern const char *e2e_veld;

char *e2e_tmpdir(void);
void e2e_rm_rf(const char *dir);
/* Start `veld serve` on 127.0.0.1 (port 0: any free port; else that port,
 * for a restart). Waits until it answers. */
void e2e_server_start(struct e2e_server *srv, const char *data_dir, uint16_t port);
/* The same with more arguments for `veld serve` (NULL-terminated, at most
 * 9), such as --tls-cert FILE --tls-key FILE; srv->url is https:// then. */
void e2e_server_start_with(struct e2e_server *srv, const char *data_dir, uint16_t port,
                           const char *const *extra);
/* SIGTERM (clean) or SIGKILL, then wait for the process. */
void e2e_server_stop(struct e2e_server *srv, int sig);
/* The office setup code the server wrote on its first start. */
void e2e_setup_code(const struct e2e_server *srv, char code[64]);

veld_store *e2e_store(const char *parent, const char *name, const char *team, int office);
veld_store *e2e_reopen(const char *parent, const char *name);
/* An office store enrolled with the server. */
veld_store *e2e_office(const struct e2e_server *srv, const char *parent);
/* A device store of `team`, invited by the office and enrolled; the
 * office's next sync certifies it (e2e_device syncs the office). */
veld_store *e2e_device_uncertified(const struct e2e_server *srv, veld_store *office,
                                   const char *parent, const char *name, const char *team);
veld_store *e2e_device(const struct e2e_server *srv, veld_store *office, const char *parent,
                       const char *name, const char *team);
/* A whole number of veld_store_info's answer. */
uint64_t e2e_info_u(veld_store *s, const char *key);
void e2e_sync(veld_store *s);
/* Create a record; returns its id (malloc'd). */
char *e2e_create(veld_store *s, const char *kind, const char *fields_json);
/* Everything a replica shows of every kind, conflicts included. */
char *e2e_state(veld_store *s);
/* Count records of a kind. */
size_t e2e_count(veld_store *s, const char *kind);
/* Read a whole file (NULL if absent). */
uint8_t *e2e_slurp(const char *path, size_t *len);
int e2e_contains(const uint8_t *hay, size_t n, const char *needle);

#endif
