package io.deia.core.internal;

import io.deia.core.DeiaException;
import io.deia.core.ErrorCode;
import io.deia.core.HiveLayout;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.FileSystems;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.attribute.FileAttribute;
import java.nio.file.attribute.PosixFileAttributes;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.nio.file.attribute.UserPrincipal;
import java.util.List;
import java.util.Set;

/**
 * Why deia may trust a hive folder: everything in it decides what deia runs (the config's
 * commands, the task files that become prompts) and where it writes. So a hive is used only when
 * it is owned by the user running deia and nobody else can write to it, and no symbolic link
 * inside it is ever followed (a planted link would make deia write, append to, chmod or move a file
 * outside the hive, with deia's rights). Everything deia creates in a hive is private: folders
 * 0700, files 0600.
 *
 * <p>Three checks, each a one-line {@link DeiaException} ({@link ErrorCode#UNPROCESSABLE}: the
 * command line exits 2) that names the path and says how to fix it, and none of which changes a
 * file it refuses:
 * <ul>
 *   <li>{@link #check(HiveLayout)} at start: the hive folder and
 *       the fixed folders and files inside it;</li>
 *   <li>{@link #checkConfigFile(Path)} for a config file;</li>
 *   <li>{@link #dir(HiveLayout, Path)} before a component uses a folder inside the hive: each
 *       folder from the hive down to it must be a real folder (not a link) owned by this user.</li>
 * </ul>
 * Files inside the hive are opened with {@code NOFOLLOW_LINKS} by their writers
 * ({@link io.deia.core.internal.io.AtomicFiles} and the append-only logs); {@link #requireNoLink} names a
 * planted link. Where the file system has no POSIX attributes (Windows) the owner and mode checks
 * are skipped; the link checks stay.
 */
public final class HiveGuard {
    private static final Logger log = LoggerFactory.getLogger(HiveGuard.class);

    /** Mode of every folder deia creates in a hive. */
    public static final Set<PosixFilePermission> FOLDER_MODE = PosixFilePermissions.fromString("rwx------");
    /** Mode of every file deia creates in a hive. */
    public static final Set<PosixFilePermission> FILE_MODE = PosixFilePermissions.fromString("rw-------");

    private static final boolean POSIX = FileSystems.getDefault().supportedFileAttributeViews().contains("posix");
    private static final Set<PosixFilePermission> WRITE_BY_OTHERS =
            Set.of(PosixFilePermission.GROUP_WRITE, PosixFilePermission.OTHERS_WRITE);
    private static final Set<PosixFilePermission> ANY_BY_OTHERS = Set.of(
            PosixFilePermission.GROUP_READ, PosixFilePermission.GROUP_WRITE, PosixFilePermission.GROUP_EXECUTE,
            PosixFilePermission.OTHERS_READ, PosixFilePermission.OTHERS_WRITE, PosixFilePermission.OTHERS_EXECUTE);
    private static final String FIX = " (see docs/operations.md, \"A hive deia refuses\")";
    private static final UserPrincipal ME = currentUser();

    private HiveGuard() {
    }

    /** The attributes a new folder in a hive is created with (0700), none where POSIX is absent. */
    public static FileAttribute<?>[] folderAttributes() {
        return POSIX ? new FileAttribute<?>[] {PosixFilePermissions.asFileAttribute(FOLDER_MODE)} : new FileAttribute<?>[0];
    }

    /** The attributes a new file in a hive is created with (0600), none where POSIX is absent. */
    public static FileAttribute<?>[] fileAttributes() {
        return POSIX ? new FileAttribute<?>[] {PosixFilePermissions.asFileAttribute(FILE_MODE)} : new FileAttribute<?>[0];
    }

    /**
     * The start-up check of a hive, done by every entry point that opens one (the command line's
     * commands, the registry, the launcher, the bot runtime, the task queue, the chat history, the
     * controller). A hive that does not exist yet passes (and is not created: the first write
     * creates it, mode 0700, like every folder deia makes in it). Refuses a hive folder that is not
     * owned by this user or that group or others may write to; tightens one others may only read or
     * enter to 0700 (a hive made by an older deia under umask 022). Refuses when one of the fixed entries
     * ({@code hive/}, {@code history/}, {@code bot-logs/}, {@code token}, {@code deia.json}, …)
     * is a symbolic link, is owned by another user or is writable by group or others.
     *
     * @return {@code hive}, for chaining
     * @throws DeiaException {@link ErrorCode#UNPROCESSABLE} naming the path and the fix
     */
    public static HiveLayout check(HiveLayout hive) {
        Path root = hive.root();
        try {
            if (!Files.exists(root, LinkOption.NOFOLLOW_LINKS)) {
                // Nothing to trust yet; the first write creates it, 0700 like every folder deia makes.
                return hive;
            }
            // The hive folder itself may be reached through a link the user made (~/.deia -> /data/deia):
            // what is checked is the folder the link leads to, and everything inside it is checked
            // without following links.
            PosixFileAttributes attrs = attributes(root, true);
            if (attrs != null) {
                if (!attrs.isDirectory()) {
                    throw refused("hive %s is not a folder", root);
                }
                requireOwnedNotShared("hive", root, attrs);
            } else if (!Files.isDirectory(root)) {
                throw refused("hive %s is not a folder", root);
            }
            for (Path folder : List.of(hive.hiveDir(), hive.tasksRoot(), hive.hiveDir().resolve("claimed"),
                    hive.stagingDir(), hive.hiveDir().resolve("responses"), hive.hiveDir().resolve("archive"),
                    hive.heartbeatsDir(), hive.controlsDir(), root.resolve("history"), root.resolve("bots"),
                    hive.botLogsDir())) {
                checkEntry(folder, true);
            }
            for (Path file : List.of(hive.tokenFile(), hive.defaultConfigFile(), hive.registryFile(),
                    hive.registryLockFile())) {
                checkEntry(file, false);
            }
            // Only a hive that passed every check is changed: a refused one is left as it was.
            if (attrs != null && attrs.permissions().stream().anyMatch(ANY_BY_OTHERS::contains)) {
                Files.setPosixFilePermissions(root, FOLDER_MODE);
                log.warn("hive {} had mode {}; set to rwx------ so that only its owner can read it", root,
                        PosixFilePermissions.toString(attrs.permissions()));
            }
        } catch (IOException e) {
            throw DeiaException.io("cannot check hive", root, e);
        }
        return hive;
    }

    /**
     * Refuses a config file that is not a regular file, or is owned by another user, or that group
     * or others may write to: its profiles name the commands deia runs. A link the user made to
     * their config (an explicit {@code --config}) is followed and the file it leads to checked; the
     * hive's own {@code deia.json} must not be a link ({@link #check}).
     *
     * A missing file passes (its reader reports it).
     *
     * @throws DeiaException {@link ErrorCode#UNPROCESSABLE} naming the file and the fix
     */
    public static void checkConfigFile(Path file) {
        try {
            PosixFileAttributes attrs = attributes(file, true);
            if (attrs == null) {
                return;
            }
            if (!attrs.isRegularFile()) {
                throw refused("config file %s is not a regular file", file);
            }
            requireOwnedNotShared("config file", file, attrs);
        } catch (NoSuchFileException e) {
            // nothing to trust or distrust: the reader reports the missing file
        } catch (IOException e) {
            throw DeiaException.io("cannot check config file", file, e);
        }
    }

    /**
     * A folder inside the hive, safe to use: every folder from the hive down to {@code dir} is a
     * real folder (not a symbolic link) owned by this user and not writable by others; missing ones
     * are created with mode 0700. A folder outside the hive (a project's worktree) is only created.
     *
     * @return {@code dir}
     * @throws DeiaException {@link ErrorCode#UNPROCESSABLE} when one of them is a link or foreign;
     *                       nothing is created below it
     */
    public static Path dir(HiveLayout hive, Path dir) {
        walk(hive, dir, true);
        return dir;
    }

    /**
     * Like {@link #dir} for a reader: checks the folders that exist without creating any.
     *
     * @return true when {@code dir} exists (and is safe)
     */
    public static boolean existingDir(HiveLayout hive, Path dir) {
        return walk(hive, dir, false);
    }

    /** Checks, and with {@code create} makes, each folder from the hive down to {@code dir}; false when one is missing. */
    private static boolean walk(HiveLayout hive, Path dir, boolean create) {
        Path target = dir.toAbsolutePath().normalize();
        Path root = hive.root();
        try {
            if (!target.startsWith(root) || target.equals(root)) {
                if (create) {
                    Files.createDirectories(target);
                }
                return Files.isDirectory(target);
            }
            if (create && !Files.exists(root, LinkOption.NOFOLLOW_LINKS)) {
                Files.createDirectories(root, folderAttributes());
            }
            Path current = root;
            for (Path name : root.relativize(target)) {
                current = current.resolve(name);
                if (create) {
                    try {
                        Files.createDirectory(current, folderAttributes());
                        continue;
                    } catch (FileAlreadyExistsException e) {
                        // there already: checked below
                    }
                }
                if (!checkEntry(current, true) && !create) {
                    return false;
                }
            }
            return true;
        } catch (IOException e) {
            throw DeiaException.io(create ? "cannot create folder" : "cannot check folder", target, e);
        }
    }

    /**
     * Refuses {@code file} when it is a symbolic link: a link planted in the hive must not redirect
     * a write, an append, a chmod or a rename to a file outside it.
     *
     * @throws DeiaException {@link ErrorCode#UNPROCESSABLE} naming the link
     */
    public static void requireNoLink(Path file) {
        if (Files.isSymbolicLink(file)) {
            throw plantedLink(file);
        }
    }

    /** The error for a symbolic link found where deia keeps a file or folder of its own. */
    public static DeiaException plantedLink(Path file) {
        return refused("%s is a symbolic link; deia never follows links inside a hive. Remove it (it was not"
                + " made by deia) and check what it points to", file);
    }

    /**
     * Checks one existing entry without following links.
     *
     * @return false when it does not exist
     */
    private static boolean checkEntry(Path entry, boolean folder) throws IOException {
        PosixFileAttributes attrs;
        try {
            attrs = attributes(entry, false);
        } catch (NoSuchFileException e) {
            return false;
        }
        if (attrs == null) {
            if (!Files.exists(entry, LinkOption.NOFOLLOW_LINKS)) {
                return false;
            }
            if (Files.isSymbolicLink(entry)) {
                throw plantedLink(entry);
            }
            return true;
        }
        if (attrs.isSymbolicLink()) {
            throw plantedLink(entry);
        }
        if (folder ? !attrs.isDirectory() : !attrs.isRegularFile()) {
            throw refused("%s is not a %s; deia keeps a %s there", entry, folder ? "folder" : "regular file",
                    folder ? "folder" : "file");
        }
        requireOwnedNotShared(folder ? "folder" : "file", entry, attrs);
        return true;
    }

    private static void requireOwnedNotShared(String what, Path path, PosixFileAttributes attrs) {
        UserPrincipal me = ME;
        if (me != null && !me.equals(attrs.owner())) {
            throw refused("%s %s is owned by %s, not by %s who runs deia; another user's files may not decide what"
                    + " deia runs. Fix: chown -R %s %s, or run deia as %s", what, path, attrs.owner().getName(),
                    me.getName(), me.getName(), path, attrs.owner().getName());
        }
        if (attrs.permissions().stream().anyMatch(WRITE_BY_OTHERS::contains)) {
            throw refused("%s %s is writable by group or others (mode %s); another user could plant files there."
                    + " Fix: chmod %s %s", what, path, PosixFilePermissions.toString(attrs.permissions()),
                    attrs.isDirectory() ? "700" : "600", path);
        }
    }

    /** POSIX attributes, or null where the file system has none. */
    private static PosixFileAttributes attributes(Path path, boolean followLinks) throws IOException {
        if (!POSIX) {
            return null;
        }
        return followLinks
                ? Files.readAttributes(path, PosixFileAttributes.class)
                : Files.readAttributes(path, PosixFileAttributes.class, LinkOption.NOFOLLOW_LINKS);
    }

    private static DeiaException refused(String format, Object... args) {
        return new DeiaException(ErrorCode.UNPROCESSABLE, String.format(format, args) + FIX);
    }

    /** The user this process runs as (its effective uid on Linux). */
    private static UserPrincipal currentUser() {
        if (!POSIX) {
            return null;
        }
        try {
            // /proc/self belongs to the process's effective user: right even where user.name is not.
            Path self = Path.of("/proc/self");
            if (Files.isDirectory(self)) {
                return Files.getOwner(self);
            }
            return FileSystems.getDefault().getUserPrincipalLookupService()
                    .lookupPrincipalByName(System.getProperty("user.name"));
        } catch (IOException | UnsupportedOperationException e) {
            log.warn("cannot tell which user runs deia ({}); hive owners are not checked", e.toString());
            return null;
        }
    }
}
