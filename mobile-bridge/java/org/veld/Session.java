package org.veld;

import java.util.concurrent.locks.ReentrantReadWriteLock;

/**
 * An open veld store: the encrypted records on this device, their lock
 * state and their sync with the office's server.
 *
 * <p>Requests and results are JSON documents; docs/mobile.md lists the keys
 * of each call, docs/data-model.md the fields of each record type. A
 * passphrase or key is a byte[] (the UTF-8 of what the user typed, or the
 * 32 bytes from the Android Keystore), never part of the JSON, so the caller
 * can wipe it with {@code Arrays.fill(pass, (byte) 0)} after the call.
 *
 * <p>Threads: a Session may be used from several threads at once; the
 * calls are serialised inside. {@link #sync} blocks (never call it on the
 * main thread); {@link #cancel} and {@link #close} may be called from any
 * thread: close cancels a running sync and waits for calls in flight. After
 * close every call throws IllegalStateException. Close it when done (it is
 * AutoCloseable): that wipes the keys.
 */
public final class Session implements AutoCloseable {
    private final ReentrantReadWriteLock guard = new ReentrantReadWriteLock();
    private long handle;             // 0 once closed; written under the write lock
    private volatile boolean closing;

    private Session(long handle) {
        this.handle = handle;
    }

    /**
     * Create a new store in {@code dir}, protected by a passphrase.
     *
     * @param optionsJson null or an object: "user", "role", "team",
     *     "kdf_memory_mib", "kdf_passes", "autolock_seconds"
     */
    public static Session create(String dir, byte[] passphrase, String optionsJson)
            throws VeldException {
        return make(Veld.CREATE, dir, passphrase, optionsJson);
    }

    /** Open a store; VeldException EAUTH on a wrong passphrase. */
    public static Session open(String dir, byte[] passphrase, String optionsJson)
            throws VeldException {
        return make(Veld.OPEN, dir, passphrase, optionsJson);
    }

    /** Create a store protected by a 32-byte key from the platform keystore. */
    public static Session createWithKey(String dir, byte[] key, String optionsJson)
            throws VeldException {
        return make(Veld.CREATE_WITH_KEY, dir, key, optionsJson);
    }

    /** Open a store made with a key; VeldException EAUTH on a wrong key. */
    public static Session openWithKey(String dir, byte[] key, String optionsJson)
            throws VeldException {
        return make(Veld.OPEN_WITH_KEY, dir, key, optionsJson);
    }

    private static Session make(int how, String dir, byte[] secret, String optionsJson)
            throws VeldException {
        return new Session(Veld.nOpen(how, Veld.utf8(dir), secret, Veld.utf8(optionsJson)));
    }

    // ---- locking ----

    /** Wipe the keys from memory; calls that need them throw ELOCKED until unlock. */
    public void lock() throws VeldException {
        run(h -> Veld.nLock(h));
    }

    public void unlock(byte[] passphrase) throws VeldException {
        run(h -> Veld.nUnlock(h, passphrase, false));
    }

    public void unlockWithKey(byte[] key) throws VeldException {
        run(h -> Veld.nUnlock(h, key, true));
    }

    public void changePassphrase(byte[] oldPassphrase, byte[] newPassphrase)
            throws VeldException {
        run(h -> Veld.nChangePassphrase(h, oldPassphrase, newPassphrase));
    }

    /**
     * Lock after {@code seconds} without use (0: never). Checked at every call
     * and by {@link #isLocked}, which an app calls from a timer and in onResume.
     */
    public void setAutoLock(int seconds) throws VeldException {
        if (seconds < 0) {
            throw new IllegalArgumentException("seconds < 0");
        }
        run(h -> Veld.nSetAutolock(h, seconds));
    }

    /** Apply the idle check, then say whether the session is locked. */
    public boolean isLocked() throws VeldException {
        return with(h -> Veld.nIsLocked(h));
    }

    // ---- records, conflicts, access log ----

    /** {"type","fields","purpose"?} -> the new record, with its "id". */
    public String recordCreate(String requestJson) throws VeldException {
        return call(Veld.CALL_RECORD_CREATE, requestJson);
    }

    /** {"type","id","purpose"?} -> the record. */
    public String recordGet(String requestJson) throws VeldException {
        return call(Veld.CALL_RECORD_GET, requestJson);
    }

    /** {"type","filter"?,"purpose"?} -> array of records. */
    public String recordList(String requestJson) throws VeldException {
        return call(Veld.CALL_RECORD_LIST, requestJson);
    }

    /** {"type","id","fields","purpose"?} -> the record. Notes are append-only (EPERM). */
    public String recordUpdate(String requestJson) throws VeldException {
        return call(Veld.CALL_RECORD_UPDATE, requestJson);
    }

    /** {"type","id","purpose"?} -> {"type","id","deleted":true}. */
    public String recordDelete(String requestJson) throws VeldException {
        return call(Veld.CALL_RECORD_DELETE, requestJson);
    }

    /** {"client","purpose"?} -> {"client","history","latest"}: ZRM scores by visit. */
    public String scores(String requestJson) throws VeldException {
        return call(Veld.CALL_SCORES, requestJson);
    }

    /**
     * {"client","purpose"?} -> {"client","zrm_version","visits","domains"}: per life
     * domain the first and latest score, the change and every score, for a chart.
     */
    public String clientProgress(String requestJson) throws VeldException {
        return call(Veld.CALL_CLIENT_PROGRESS, requestJson);
    }

    /**
     * {"days"?,"today"?,"all"?,"team"?,"by_worker"?,"purpose"?} ->
     * {"today","days","clients","items"}: what is due for the worker's clients.
     */
    public String due(String requestJson) throws VeldException {
        return call(Veld.CALL_DUE, requestJson);
    }

    /** {"purpose"?} -> array of fields in conflict. */
    public String conflictsList(String requestJson) throws VeldException {
        return call(Veld.CALL_CONFLICTS_LIST, requestJson);
    }

    /** {"type","id","field","value","purpose"?} -> {"type","id","field","resolved":true}. */
    public String conflictResolve(String requestJson) throws VeldException {
        return call(Veld.CALL_CONFLICT_RESOLVE, requestJson);
    }

    /** {"client"?,"limit"?} -> array of access-log entries. */
    public String auditList(String requestJson) throws VeldException {
        return call(Veld.CALL_AUDIT_LIST, requestJson);
    }

    /** {} -> {"ok":true,"entries":n}; ECORRUPT if the log was altered. */
    public String auditVerify() throws VeldException {
        return call(Veld.CALL_AUDIT_VERIFY, null);
    }

    /** {} -> the store's description (device, team, counts; no personal data). Works locked. */
    public String info() throws VeldException {
        return call(Veld.CALL_INFO, null);
    }

    /** {} -> record kinds, their fields and the life domains. */
    public String schema() throws VeldException {
        return call(Veld.CALL_SCHEMA, null);
    }

    // ---- sync ----

    /** {"url","code","label"?, network options} -> {"role","team","device"}. */
    public String enroll(String requestJson) throws VeldException {
        return call(Veld.CALL_ENROLL, requestJson);
    }

    /**
     * Push this device's changes and pull the team's. Blocks: call it from a
     * worker thread. {@code listener} (may be null) runs on this thread.
     *
     * @param requestJson null or network options ("insecure_http", "ca_file",
     *     "ca_pem", "pinned_key", "timeout_ms", "max_retries", "push_batch",
     *     "pull_page")
     * @return {"pushed","pulled","applied","conflicts","duration_ms"}
     */
    public String sync(String requestJson, SyncListener listener) throws VeldException {
        return with(h -> Veld.string(Veld.nSync(h, Veld.utf8(requestJson), listener)));
    }

    /** Stop a running sync or enroll, from any thread. */
    public void cancel() {
        guard.readLock().lock();
        try {
            if (handle != 0) {
                Veld.nCancel(handle);
            }
        } finally {
            guard.readLock().unlock();
        }
    }

    /** Close the store and wipe its keys. Safe to call twice and from any thread. */
    @Override
    public void close() {
        closing = true;         // new calls fail from here on
        cancel();               // a running sync stops soon
        guard.writeLock().lock(); // waits for the calls in flight
        try {
            if (handle != 0) {
                Veld.nClose(handle);
                handle = 0;
            }
        } finally {
            guard.writeLock().unlock();
        }
    }

    private String call(int which, String requestJson) throws VeldException {
        return with(h -> Veld.string(Veld.nCall(h, which, Veld.utf8(requestJson))));
    }

    /** A native call on the handle, which stays valid while it runs. */
    private interface NativeCall<T> {
        T call(long handle) throws VeldException;
    }

    /** The same for a call without a result. */
    private interface NativeAction {
        void run(long handle) throws VeldException;
    }

    /**
     * Run a native call under the read lock, so close (the write lock) waits
     * for it; after close it throws IllegalStateException instead.
     */
    private <T> T with(NativeCall<T> c) throws VeldException {
        guard.readLock().lock();
        try {
            if (closing || handle == 0) {
                throw new IllegalStateException("veld session is closed");
            }
            return c.call(handle);
        } finally {
            guard.readLock().unlock();
        }
    }

    private void run(NativeAction a) throws VeldException {
        with(h -> {
            a.run(h);
            return null;
        });
    }
}
