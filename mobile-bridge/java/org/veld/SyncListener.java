package org.veld;

/**
 * Progress of a running sync. Called on the thread that called
 * {@link Session#sync}, after each pushed batch and each pulled page.
 */
public interface SyncListener {
    /**
     * @return true to go on, false to cancel the sync (it then throws a
     *     VeldException with code ECANCELLED; what was pushed or applied so
     *     far stays). An exception thrown here also cancels the sync and is
     *     rethrown by {@link Session#sync}. Do not close the session here.
     */
    boolean onProgress(SyncProgress progress);
}
