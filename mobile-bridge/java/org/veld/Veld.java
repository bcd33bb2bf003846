package org.veld;

import java.nio.charset.StandardCharsets;

/**
 * The native side of veld: loads libveld_jni and declares its entry points.
 * Apps use {@link Session}; this class offers the version and the constants.
 *
 * <p>Every string crosses to C as a byte[] of UTF-8 made by Java's own
 * encoder, never as a JNI string: JNI's "modified UTF-8" would split a
 * 4-byte character such as an emoji into two surrogates.
 */
public final class Veld {
    /** The bridge ABI these classes were written for: (major << 16) | (minor << 8). */
    public static final int ABI_VERSION = (1 << 16) | (4 << 8);

    static {
        System.loadLibrary("veld_jni");
        try {
            nAbiCheck(ABI_VERSION);
        } catch (VeldException e) {
            throw new UnsatisfiedLinkError("libveld_jni does not fit these classes: "
                + e.getMessage());
        }
    }

    private Veld() {
    }

    /** The ABI version of the loaded native library. */
    public static int abiVersion() {
        return nAbiVersion();
    }

    /**
     * A constant of veld_bridge.h by its C name ("VELD_EAUTH", "VELD_PHASE_PULL", ...).
     *
     * @throws VeldException ENOTFOUND if there is no such constant
     */
    public static long constant(String name) throws VeldException {
        return nConstant(utf8(name));
    }

    static byte[] utf8(String s) {
        return s == null ? null : s.getBytes(StandardCharsets.UTF_8);
    }

    static String string(byte[] b) {
        return b == null ? null : new String(b, StandardCharsets.UTF_8);
    }

    /* Called by the native glue on the syncing thread. */
    static boolean progress(SyncListener l, int phase, long pushed, long pushTotal, long pulled,
                            long applied, long elapsedMs) {
        return l.onProgress(new SyncProgress(phase, pushed, pushTotal, pulled, applied,
            elapsedMs));
    }

    // Ways nOpen opens a session (as in veld_jni.c).
    static final int OPEN = 0;
    static final int CREATE = 1;
    static final int OPEN_WITH_KEY = 2;
    static final int CREATE_WITH_KEY = 3;

    // The JSON calls of nCall (indexes into the table in veld_jni.c).
    static final int CALL_RECORD_CREATE = 0;
    static final int CALL_RECORD_GET = 1;
    static final int CALL_RECORD_LIST = 2;
    static final int CALL_RECORD_UPDATE = 3;
    static final int CALL_RECORD_DELETE = 4;
    static final int CALL_SCORES = 5;
    static final int CALL_CONFLICTS_LIST = 6;
    static final int CALL_CONFLICT_RESOLVE = 7;
    static final int CALL_AUDIT_LIST = 8;
    static final int CALL_AUDIT_VERIFY = 9;
    static final int CALL_INFO = 10;
    static final int CALL_SCHEMA = 11;
    static final int CALL_ENROLL = 12;
    static final int CALL_CLIENT_PROGRESS = 13;
    static final int CALL_DUE = 14;

    static native int nAbiVersion();
    static native void nAbiCheck(int compiled) throws VeldException;
    static native long nConstant(byte[] name) throws VeldException;
    static native long nOpen(int how, byte[] dir, byte[] secret, byte[] options)
        throws VeldException;
    static native void nClose(long handle);
    static native void nLock(long handle) throws VeldException;
    static native void nUnlock(long handle, byte[] secret, boolean isKey) throws VeldException;
    static native void nChangePassphrase(long handle, byte[] oldPassphrase, byte[] newPassphrase)
        throws VeldException;
    static native void nSetAutolock(long handle, int seconds) throws VeldException;
    static native boolean nIsLocked(long handle) throws VeldException;
    static native byte[] nCall(long handle, int call, byte[] request) throws VeldException;
    static native byte[] nSync(long handle, byte[] request, SyncListener listener)
        throws VeldException;
    static native void nCancel(long handle);
}
