/* error.c - error codes, messages and the library's one-time init. */
#include "veld.h"
#include "error.h"

#include <pthread.h>
#include <sodium.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static _Thread_local char err_msg[512];
static _Thread_local int err_code;
/* The SQLite result code behind the last error, kept apart from the
 * message so a caller can name the failure without repeating the message
 * (the server logs it; see veld__err_sqlite_last). */
static _Thread_local int err_sqlite;
static _Thread_local char err_sqlstate[6];

int veld__err(int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err_msg, sizeof err_msg, fmt, ap);
	va_end(ap);
	err_code = code;
	err_sqlite = 0;
	err_sqlstate[0] = '\0';
	return code;
}

int veld__err_prefix(int code, const char *what)
{
	char msg[sizeof err_msg];
	size_t n = strlen(what);
	memcpy(msg, err_msg, sizeof msg);
	if (n > sizeof err_msg - 3)
		n = sizeof err_msg - 3;
	memcpy(err_msg, what, n);
	memcpy(err_msg + n, ": ", 2);
	n += 2;
	memcpy(err_msg + n, msg, sizeof err_msg - n - 1);
	err_msg[sizeof err_msg - 1] = '\0';
	return code;
}

void veld__err_clear(void)
{
	err_msg[0] = '\0';
	err_code = VELD_OK;
	err_sqlite = 0;
	err_sqlstate[0] = '\0';
}

void veld__err_sqlstate(const char *sqlstate)
{
	snprintf(err_sqlstate, sizeof err_sqlstate, "%s", sqlstate ? sqlstate : "");
}

const char *veld__err_sqlstate_last(void)
{
	return err_sqlstate;
}

int veld__err_sqlite_last(void)
{
	return err_sqlite;
}

static int err_sqlite_class(int rc, const char *what);

int veld__err_sqlite(int rc, const char *what)
{
	int code = err_sqlite_class(rc, what);
	err_sqlite = rc;
	return code;
}

static int err_sqlite_class(int rc, const char *what)
{
	switch (rc & 0xff) {
	case SQLITE_NOMEM:
		return veld__err(VELD_ENOMEM, "%s: out of memory", what);
	case SQLITE_FULL:
		return veld__err(VELD_EIO, "%s: disk full; nothing was written", what);
	case SQLITE_IOERR:
	case SQLITE_CANTOPEN:
	case SQLITE_READONLY:
		return veld__err(VELD_EIO, "%s: %s", what, sqlite3_errstr(rc));
	case SQLITE_CORRUPT:
	case SQLITE_NOTADB:
		return veld__err(VELD_ECORRUPT, "%s: the store file is damaged (%s)", what,
			sqlite3_errstr(rc));
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return veld__err(VELD_EBUSY, "%s: the store is in use by another process", what);
	case SQLITE_CONSTRAINT:
		return veld__err(VELD_EEXISTS, "%s: %s", what, sqlite3_errstr(rc));
	default:
		return veld__err(VELD_ERROR, "%s: %s", what, sqlite3_errstr(rc));
	}
}

const char *veld_error_last(void)
{
	return err_msg;
}

int veld_error_code_last(void)
{
	return err_code;
}

const char *veld_strerror(int code)
{
	switch (code) {
	case VELD_OK: return "ok";
	case VELD_ERROR: return "internal error";
	case VELD_ENOMEM: return "out of memory";
	case VELD_EINVAL: return "invalid argument or malformed input";
	case VELD_ENOTFOUND: return "not found";
	case VELD_EAUTH: return "wrong passphrase or key";
	case VELD_ECORRUPT: return "integrity check failed";
	case VELD_EIO: return "file system failure";
	case VELD_EEXISTS: return "already exists";
	case VELD_ESCHEMA: return "store written by a newer veld";
	case VELD_ELOCKED: return "store is locked";
	case VELD_ESHREDDED: return "client was erased";
	case VELD_EPERM: return "not permitted";
	case VELD_EBUSY: return "store is busy";
	case VELD_ENET: return "network failure";
	case VELD_EPROTO: return "protocol error";
	case VELD_EREVOKED: return "device revoked";
	case VELD_ECANCELLED: return "cancelled";
	default: return "unknown error";
	}
}

uint32_t veld_version(void)
{
	return ((uint32_t)VELD_VERSION_MAJOR << 16) | ((uint32_t)VELD_VERSION_MINOR << 8) |
	       (uint32_t)VELD_VERSION_PATCH;
}

void veld_free(void *p)
{
	free(p);
}

static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static int init_rc;

static void init_run(void)
{
	init_rc = sodium_init() < 0 ? -1 : 0;
}

int veld_init(void)
{
	pthread_once(&init_once, init_run);
	if (init_rc != 0)
		return veld__err(VELD_ERROR, "libsodium failed to initialise");
	return VELD_OK;
}
