/*
 * veld_jni.c - the JNI glue between org.veld.Veld (java/) and the bridge
 * (veld_bridge.h).
 *
 * Every string crosses as a byte[] holding UTF-8, both ways: JNI's own
 * string functions (GetStringUTFChars, NewStringUTF) speak "modified
 * UTF-8", which writes a character outside the Basic Multilingual Plane
 * (an emoji) as two 3-byte surrogates, which the store would refuse as
 * invalid UTF-8 or, worse, keep as different bytes than another platform
 * wrote. Java's own encoder (String.getBytes(UTF_8)) is right, so the
 * Java side converts and this file only copies bytes.
 *
 * A failure becomes an org.veld.VeldException carrying the code and the
 * message bytes, built on the calling thread straight after the call, so
 * it reads that thread's message.
 *
 * Handles are the bridge's pointers in a jlong. org.veld.Session makes
 * sure none is used after close.
 */
#include <jni.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "veld_bridge.h"

static jclass exception_class;    /* org.veld.VeldException */
static jmethodID exception_init;  /* VeldException(int, byte[]) */
static jclass veld_class;         /* org.veld.Veld */
static jmethodID progress_method; /* static boolean progress(SyncListener, int, long x5) */

JNIEXPORT jint JNICALL JNI_OnLoad(JavaVM *vm, void *reserved)
{
	JNIEnv *env;
	jclass c;
	(void)reserved;
	if ((*vm)->GetEnv(vm, (void **)&env, JNI_VERSION_1_6) != JNI_OK)
		return JNI_ERR;
	/* Looked up once here: FindClass on a thread the app made itself would
	 * search the system class loader, which does not know the app's
	 * classes. */
	if ((c = (*env)->FindClass(env, "org/veld/VeldException")) == NULL)
		return JNI_ERR;
	exception_class = (*env)->NewGlobalRef(env, c);
	exception_init = (*env)->GetMethodID(env, c, "<init>", "(I[B)V");
	if ((c = (*env)->FindClass(env, "org/veld/Veld")) == NULL)
		return JNI_ERR;
	veld_class = (*env)->NewGlobalRef(env, c);
	progress_method = (*env)->GetStaticMethodID(env, c, "progress",
		"(Lorg/veld/SyncListener;IJJJJJ)Z");
	if (exception_class == NULL || exception_init == NULL || veld_class == NULL ||
	    progress_method == NULL)
		return JNI_ERR;
	return JNI_VERSION_1_6;
}

/* ---- bytes in and out ------------------------------------------------------- */

struct bytes {
	uint8_t *p;
	size_t n;
};

/* Copy a Java byte[] (NULL allowed) into C memory. 0 with a pending
 * OutOfMemoryError on failure. */
static int bytes_get(JNIEnv *env, jbyteArray a, struct bytes *b)
{
	b->p = NULL;
	b->n = 0;
	if (a == NULL)
		return 1;
	b->n = (size_t)(*env)->GetArrayLength(env, a);
	if ((b->p = malloc(b->n > 0 ? b->n : 1)) == NULL) {
		jclass oom = (*env)->FindClass(env, "java/lang/OutOfMemoryError");
		if (oom != NULL)
			(*env)->ThrowNew(env, oom, "veld: out of native memory");
		return 0;
	}
	(*env)->GetByteArrayRegion(env, a, 0, (jsize)b->n, (jbyte *)b->p);
	return 1;
}

/* Release a copy, wiping it: it may be a passphrase or a client's data. */
static void bytes_free(struct bytes *b)
{
	if (b->p != NULL) {
		volatile uint8_t *v = b->p;
		for (size_t i = 0; i < b->n; i++)
			v[i] = 0;
		free(b->p);
	}
	b->p = NULL;
	b->n = 0;
}

static jbyteArray new_bytes(JNIEnv *env, const uint8_t *p, size_t n)
{
	jbyteArray a = (*env)->NewByteArray(env, (jsize)n);
	if (a != NULL && n > 0)
		(*env)->SetByteArrayRegion(env, a, 0, (jsize)n, (const jbyte *)p);
	return a;
}

/* Throw VeldException(code, message of this thread's last failure). */
static void throw_veld(JNIEnv *env, int32_t rc)
{
	size_t n;
	const uint8_t *m = veld_bridge_error_message(&n);
	jbyteArray msg = new_bytes(env, m, n);
	jobject e;
	if (msg == NULL)
		return; /* OutOfMemoryError pending */
	e = (*env)->NewObject(env, exception_class, exception_init, (jint)rc, msg);
	if (e != NULL)
		(*env)->Throw(env, (jthrowable)e);
}

/* Throw VeldException unless the call succeeded. */
static void check(JNIEnv *env, int32_t rc)
{
	if (rc != VELD_OK)
		throw_veld(env, rc);
}

/* A mistake of the Java side (these classes ship together, so a bug). */
static void throw_illegal(JNIEnv *env, const char *msg)
{
	jclass c = (*env)->FindClass(env, "java/lang/IllegalArgumentException");
	if (c != NULL)
		(*env)->ThrowNew(env, c, msg);
}

/* The answer of a JSON call: its result as a byte[], or NULL with
 * VeldException thrown. The buffer is released either way. */
static jbyteArray answer(JNIEnv *env, int32_t rc, veld_buf *buf)
{
	jbyteArray a = NULL;
	if (rc != VELD_OK)
		throw_veld(env, rc);
	else
		a = new_bytes(env, veld_buf_data(buf), veld_buf_len(buf));
	veld_buf_free(buf);
	return a;
}

static veld_session *session_of(jlong h)
{
	return (veld_session *)(intptr_t)h;
}

/* ---- org.veld.Veld natives ---------------------------------------------------- */

JNIEXPORT jint JNICALL Java_org_veld_Veld_nAbiVersion(JNIEnv *env, jclass cls)
{
	(void)env;
	(void)cls;
	return (jint)veld_bridge_abi_version();
}

JNIEXPORT void JNICALL Java_org_veld_Veld_nAbiCheck(JNIEnv *env, jclass cls, jint compiled)
{
	(void)cls;
	check(env, veld_bridge_abi_check((uint32_t)compiled));
}

JNIEXPORT jlong JNICALL Java_org_veld_Veld_nConstant(JNIEnv *env, jclass cls, jbyteArray name)
{
	struct bytes b;
	int64_t v = 0;
	int32_t rc;
	(void)cls;
	if (!bytes_get(env, name, &b))
		return 0;
	rc = veld_bridge_constant(b.p, b.n, &v);
	bytes_free(&b);
	check(env, rc);
	return (jlong)v;
}

/* The ways nOpen opens a session, by the index Veld.OPEN, CREATE,
 * OPEN_WITH_KEY and CREATE_WITH_KEY give them. */
typedef int32_t (*open_call)(veld_session **, const uint8_t *, size_t, const uint8_t *, size_t,
	const uint8_t *, size_t);

static const open_call opens[] = {
	veld_session_open,            /* 0 */
	veld_session_create,          /* 1 */
	veld_session_open_with_key,   /* 2 */
	veld_session_create_with_key, /* 3 */
};

JNIEXPORT jlong JNICALL Java_org_veld_Veld_nOpen(JNIEnv *env, jclass cls, jint how,
	jbyteArray dir, jbyteArray secret, jbyteArray options)
{
	struct bytes d = {0}, k = {0}, o = {0};
	veld_session *s = NULL;
	(void)cls;
	if (how < 0 || (size_t)how >= sizeof opens / sizeof opens[0]) {
		throw_illegal(env, "veld: unknown way to open a session");
		return 0;
	}
	if (bytes_get(env, dir, &d) && bytes_get(env, secret, &k) && bytes_get(env, options, &o))
		check(env, opens[how](&s, d.p, d.n, k.p, k.n, o.p, o.n));
	bytes_free(&d);
	bytes_free(&k);
	bytes_free(&o);
	return (jlong)(intptr_t)s;
}

JNIEXPORT void JNICALL Java_org_veld_Veld_nClose(JNIEnv *env, jclass cls, jlong h)
{
	(void)env;
	(void)cls;
	veld_session_close(session_of(h));
}

JNIEXPORT void JNICALL Java_org_veld_Veld_nLock(JNIEnv *env, jclass cls, jlong h)
{
	(void)cls;
	check(env, veld_session_lock(session_of(h)));
}

JNIEXPORT void JNICALL Java_org_veld_Veld_nUnlock(JNIEnv *env, jclass cls, jlong h,
	jbyteArray secret, jboolean is_key)
{
	struct bytes k;
	int32_t rc;
	(void)cls;
	if (!bytes_get(env, secret, &k))
		return;
	rc = is_key ? veld_session_unlock_with_key(session_of(h), k.p, k.n)
	            : veld_session_unlock(session_of(h), k.p, k.n);
	bytes_free(&k);
	check(env, rc);
}

JNIEXPORT void JNICALL Java_org_veld_Veld_nChangePassphrase(JNIEnv *env, jclass cls, jlong h,
	jbyteArray old_pass, jbyteArray new_pass)
{
	struct bytes a = {0}, b = {0};
	(void)cls;
	if (bytes_get(env, old_pass, &a) && bytes_get(env, new_pass, &b))
		check(env, veld_session_change_passphrase(session_of(h), a.p, a.n, b.p, b.n));
	bytes_free(&a);
	bytes_free(&b);
}

JNIEXPORT void JNICALL Java_org_veld_Veld_nSetAutolock(JNIEnv *env, jclass cls, jlong h,
	jint seconds)
{
	(void)cls;
	if (seconds < 0)
		throw_illegal(env, "veld: the idle time cannot be negative");
	else
		check(env, veld_session_set_autolock(session_of(h), (uint32_t)seconds));
}

JNIEXPORT jboolean JNICALL Java_org_veld_Veld_nIsLocked(JNIEnv *env, jclass cls, jlong h)
{
	int32_t rc = veld_session_is_locked(session_of(h));
	(void)cls;
	if (rc < 0) {
		throw_veld(env, rc);
		return JNI_FALSE;
	}
	return rc == 1 ? JNI_TRUE : JNI_FALSE;
}

/* The JSON calls, by the index Veld.CALL_* gives them. */
typedef int32_t (*json_call)(veld_session *, const uint8_t *, size_t, veld_buf **);

static const json_call calls[] = {
	veld_session_record_create,     /* 0 */
	veld_session_record_get,        /* 1 */
	veld_session_record_list,       /* 2 */
	veld_session_record_update,     /* 3 */
	veld_session_record_delete,     /* 4 */
	veld_session_scores,            /* 5 */
	veld_session_conflicts_list,    /* 6 */
	veld_session_conflict_resolve,  /* 7 */
	veld_session_audit_list,        /* 8 */
	veld_session_audit_verify,      /* 9 */
	veld_session_info,              /* 10 */
	veld_session_schema,            /* 11 */
	veld_session_enroll,            /* 12 */
	veld_session_client_progress,   /* 13 */
	veld_session_due,               /* 14 */
};

JNIEXPORT jbyteArray JNICALL Java_org_veld_Veld_nCall(JNIEnv *env, jclass cls, jlong h,
	jint which, jbyteArray request)
{
	struct bytes r;
	veld_buf *out = NULL;
	int32_t rc;
	(void)cls;
	if (which < 0 || (size_t)which >= sizeof calls / sizeof calls[0]) {
		throw_illegal(env, "veld: unknown call");
		return NULL;
	}
	if (!bytes_get(env, request, &r))
		return NULL;
	rc = calls[which](session_of(h), r.p, r.n, &out);
	bytes_free(&r);
	return answer(env, rc, out);
}

/* ---- sync with a listener ------------------------------------------------------ */

struct progress_ctx {
	JNIEnv *env;         /* of the syncing thread: the callback runs on it */
	jobject listener;    /* org.veld.SyncListener or NULL */
	jthrowable pending;  /* what the listener threw, rethrown after the sync */
};

static int32_t on_progress(const veld_progress *p, void *payload)
{
	struct progress_ctx *c = payload;
	JNIEnv *env = c->env;
	jboolean go;
	if (c->listener == NULL)
		return 0;
	go = (*env)->CallStaticBooleanMethod(env, veld_class, progress_method, c->listener,
		(jint)p->phase, (jlong)p->pushed, (jlong)p->push_total, (jlong)p->pulled,
		(jlong)p->applied, (jlong)p->elapsed_ms);
	if ((*env)->ExceptionCheck(env)) {
		/* No JNI call may run with an exception pending: keep it aside,
		 * stop the sync, and throw it again once the sync has returned. */
		if (c->pending == NULL)
			c->pending = (*env)->ExceptionOccurred(env);
		(*env)->ExceptionClear(env);
		return 1;
	}
	return go ? 0 : 1;
}

JNIEXPORT jbyteArray JNICALL Java_org_veld_Veld_nSync(JNIEnv *env, jclass cls, jlong h,
	jbyteArray request, jobject listener)
{
	struct progress_ctx c = {env, listener, NULL};
	struct bytes r;
	veld_buf *out = NULL;
	int32_t rc;
	(void)cls;
	if (!bytes_get(env, request, &r))
		return NULL;
	rc = veld_session_sync(session_of(h), r.p, r.n, on_progress, &out, &c);
	bytes_free(&r);
	if (c.pending != NULL) {
		veld_buf_free(out);
		(*env)->Throw(env, c.pending);
		return NULL;
	}
	return answer(env, rc, out);
}

JNIEXPORT void JNICALL Java_org_veld_Veld_nCancel(JNIEnv *env, jclass cls, jlong h)
{
	(void)env;
	(void)cls;
	veld_session_cancel(session_of(h));
}
