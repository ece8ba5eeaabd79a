package io.deia.core.permission;

/**
 * Told about every request a {@link PermissionBroker} handles: once when it is asked, once when it
 * ends (in that order, also for a request the policy decides at once). Called on the thread that
 * asked or ended it: keep it quick, and do not call back into the broker.
 */
public interface PermissionListener {
    /** {@code request} was asked; it may already be decided (then {@link #resolved} follows at once). */
    void requested(PermissionRequest request);

    /** {@code request} ended with {@code answer}. */
    void resolved(PermissionRequest request, PermissionAnswer answer);
}
