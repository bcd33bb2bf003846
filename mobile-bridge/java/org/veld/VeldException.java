package org.veld;

import java.nio.charset.StandardCharsets;

/**
 * A failed veld call: a stable code (never renumbered; the same numbers as
 * the C header veld_bridge.h) and a message that names ids and fields, never
 * a value, a passphrase or a code.
 */
public class VeldException extends Exception {
    private static final long serialVersionUID = 1L;

    public static final int ERROR = -1;      // unexpected internal failure
    public static final int ENOMEM = -2;     // out of memory
    public static final int EINVAL = -3;     // invalid argument or malformed input
    public static final int ENOTFOUND = -4;  // no such store, record or entry
    public static final int EAUTH = -5;      // wrong passphrase or key
    public static final int ECORRUPT = -6;   // store, sealed value or log failed a check
    public static final int EIO = -7;        // file system failure (includes a full disk)
    public static final int EEXISTS = -8;    // already exists
    public static final int ESCHEMA = -9;    // store written by a newer veld
    public static final int ELOCKED = -10;   // the session is locked
    public static final int ESHREDDED = -11; // client was erased
    public static final int EPERM = -12;     // not allowed (append-only, other team, refused)
    public static final int EBUSY = -13;     // store in use by another process
    public static final int ENET = -14;      // network failure (sync)
    public static final int EPROTO = -15;    // peer broke the protocol (sync)
    public static final int EREVOKED = -16;  // this device was revoked: wipe the store
    public static final int ECANCELLED = -17; // cancelled by the caller

    private static final String[] NAMES = {
        "VELD_OK", "VELD_ERROR", "VELD_ENOMEM", "VELD_EINVAL", "VELD_ENOTFOUND", "VELD_EAUTH",
        "VELD_ECORRUPT", "VELD_EIO", "VELD_EEXISTS", "VELD_ESCHEMA", "VELD_ELOCKED",
        "VELD_ESHREDDED", "VELD_EPERM", "VELD_EBUSY", "VELD_ENET", "VELD_EPROTO",
        "VELD_EREVOKED", "VELD_ECANCELLED"
    };

    private final int code;

    public VeldException(int code, String message) {
        super(codeName(code) + ": " + message);
        this.code = code;
    }

    /* Made by the native glue: the message crosses as UTF-8 bytes. */
    VeldException(int code, byte[] message) {
        this(code, new String(message, StandardCharsets.UTF_8));
    }

    /** The code, one of the constants of this class. */
    public int getCode() {
        return code;
    }

    /** "VELD_EAUTH" for EAUTH, as in the C header. */
    public static String codeName(int code) {
        return code <= 0 && -code < NAMES.length ? NAMES[-code] : "VELD_EUNKNOWN";
    }
}
