/*
 * veld_errors.h - the error codes of every veld call.
 *
 * The store's API (veld.h) and the phone bridge (veld_bridge.h) return the
 * same codes, so they are defined once, here, and both headers include
 * this one: the two cannot drift apart, and a program may include both in
 * either order. An app built on the bridge ships this header beside
 * veld_bridge.h.
 *
 * A code is an int: VELD_OK (0) or a negative VELD_E*. Codes are never
 * renumbered, because apps compare them and the Java binding copies them
 * (VeldException). A new code goes at the end with the next free number,
 * together with its name in the bridge's table (veld_bridge_constant,
 * veld_bridge_code_name) and its description in veld_strerror.
 */
#ifndef VELD_ERRORS_H
#define VELD_ERRORS_H

#ifdef __cplusplus
extern "C" {
#endif

enum {
	VELD_OK = 0,
	VELD_ERROR = -1,      /* unexpected internal failure */
	VELD_ENOMEM = -2,     /* out of memory */
	VELD_EINVAL = -3,     /* invalid argument or malformed input */
	VELD_ENOTFOUND = -4,  /* no such store, record or entry */
	VELD_EAUTH = -5,      /* wrong passphrase or key */
	VELD_ECORRUPT = -6,   /* store, sealed value or log failed a check */
	VELD_EIO = -7,        /* file system failure (includes a full disk) */
	VELD_EEXISTS = -8,    /* already exists */
	VELD_ESCHEMA = -9,    /* store written by a newer veld */
	VELD_ELOCKED = -10,   /* the store is locked: its keys are wiped from memory */
	VELD_ESHREDDED = -11, /* client was erased; its data key is destroyed */
	VELD_EPERM = -12,     /* not allowed (append-only, other team, refused by the server) */
	VELD_EBUSY = -13,     /* store in use by another process */
	VELD_ENET = -14,      /* network failure (sync) */
	VELD_EPROTO = -15,    /* peer broke the protocol (sync) */
	VELD_EREVOKED = -16,  /* this device was revoked; wipe it (sync) */
	VELD_ECANCELLED = -17 /* cancelled by the caller */
};

#ifdef __cplusplus
}
#endif
#endif /* VELD_ERRORS_H */
