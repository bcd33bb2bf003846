package org.veld;

/** Where a sync is; counts are totals since it started. */
public final class SyncProgress {
    public static final int PHASE_PUSH = 1; // sending this device's changes
    public static final int PHASE_PULL = 2; // receiving the team's changes

    public final int phase;
    public final long pushed;     // own operations the server acknowledged
    public final long pushTotal;  // own operations waiting when the sync started
    public final long pulled;     // operations received
    public final long applied;    // of those, new to this store
    public final long elapsedMs;  // since the sync started

    SyncProgress(int phase, long pushed, long pushTotal, long pulled, long applied,
                 long elapsedMs) {
        this.phase = phase;
        this.pushed = pushed;
        this.pushTotal = pushTotal;
        this.pulled = pulled;
        this.applied = applied;
        this.elapsedMs = elapsedMs;
    }

    @Override
    public String toString() {
        return (phase == PHASE_PUSH ? "push" : "pull") + ": pushed " + pushed + "/" + pushTotal
            + ", pulled " + pulled + " (" + applied + " new), " + elapsedMs + " ms";
    }
}
