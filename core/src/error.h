/* error.h - thread-local error reporting (private). */
#ifndef VELD_ERROR_H
#define VELD_ERROR_H

/* Record `code` and a printf-style message for veld_error_last(); returns
 * `code` so a failing path can `return veld__err(...)`. Messages must never
 * hold personal data: name ids and fields, not values. */
int veld__err(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Put "what: " before the thread's last message, keeping its code and its
 * cause (veld__err_sqlite_last); returns `code`. For a layer that knows
 * what it was doing when a lower one failed. */
int veld__err_prefix(int code, const char *what);
/* Clear the thread's error at the start of a public call. */
void veld__err_clear(void);
/* Map an SQLite result code to a veld code with a message. */
int veld__err_sqlite(int rc, const char *what);
/* The SQLite result code (extended, if the connection asked for them)
 * behind the thread's last error; 0 when that error did not come from
 * SQLite. */
int veld__err_sqlite_last(void);
/* PostgreSQL's SQLSTATE (five characters) behind the thread's last error:
 * set it right after the veld__err that reported the failure; "" when the
 * last error did not come from PostgreSQL. */
void veld__err_sqlstate(const char *sqlstate);
const char *veld__err_sqlstate_last(void);

#endif
