package io.deia.core.schedule;

import java.util.concurrent.atomic.AtomicBoolean;

/**
 * The turn slots one turn holds (a hive slot, a profile slot, either or none), from
 * {@link TurnSlots#acquire} until {@link #close()}. If the runner dies first, the kernel releases
 * them.
 */
public final class SlotLease implements AutoCloseable {
    /** The lease of a turn no limit applies to: holds nothing. */
    public static final SlotLease NONE = new SlotLease(null, null, null);

    private final SlotFiles files;
    private final HeldFile hiveSlot;
    private final HeldFile profileSlot;
    private final AtomicBoolean released = new AtomicBoolean();

    SlotLease(SlotFiles files, HeldFile hiveSlot, HeldFile profileSlot) {
        this.files = files;
        this.hiveSlot = hiveSlot;
        this.profileSlot = profileSlot;
    }

    /** True when this lease holds at least one slot. */
    public boolean holdsSlots() {
        return hiveSlot != null || profileSlot != null;
    }

    /** The slot files held, for logs: e.g. {@code hive-0.lock+profile-x-1.lock}, or {@code none}. */
    @Override
    public String toString() {
        if (!holdsSlots()) {
            return "none";
        }
        String h = hiveSlot == null ? "" : hiveSlot.file().getFileName().toString();
        String p = profileSlot == null ? "" : profileSlot.file().getFileName().toString();
        return h.isEmpty() ? p : p.isEmpty() ? h : h + "+" + p;
    }

    /** Releases the slots and wakes the waiters; idempotent. */
    @Override
    public void close() {
        if (!holdsSlots() || !released.compareAndSet(false, true)) {
            return;
        }
        if (hiveSlot != null) {
            hiveSlot.release(false);
        }
        if (profileSlot != null) {
            profileSlot.release(false);
        }
        files.signalRelease();
    }
}
