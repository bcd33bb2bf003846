/* server_nonces.h - the SQLite backend's memory of request nonces
 * (private).
 *
 * Kept in a database file of its own, DATA/nonces.db, so that recording
 * the nonce of a read (a pull) never waits for the write lock of
 * server.db, which a push holds for its whole transaction. Its own
 * connection and mutex; each call is one short statement.
 */
#ifndef VELD_SERVER_NONCES_H
#define VELD_SERVER_NONCES_H

#include <stdint.h>

struct veld__nonces;

/* The path of DIR/file in `path`, the file created (mode 0600, whatever the
 * umask; SQLite gives its WAL and shm files the same mode) if missing, for
 * the SQLite backend's databases. `what` names it in an error. */
int veld__db_file(char *path, size_t cap, const char *dir, const char *file, const char *what);

/* Open (create, mode 0600) DIR/nonces.db. */
int veld__nonces_open(struct veld__nonces **out, const char *dir);
void veld__nonces_close(struct veld__nonces *n);

/* Has `device` sent `nonce`? */
int veld__nonces_seen(struct veld__nonces *n, const uint8_t device[16], const uint8_t nonce[16],
                      int *seen);

/* Record `nonce` of `device`, sent at time_ms: *fresh is 1 if it was new,
 * 0 if it was held already (a replay that raced its original). Nonces
 * older than twice the authentication window before now_ms are pruned now
 * and then. */
int veld__nonces_record(struct veld__nonces *n, const uint8_t device[16], const uint8_t nonce[16],
                        uint64_t time_ms, uint64_t now_ms, int *fresh);

#endif
