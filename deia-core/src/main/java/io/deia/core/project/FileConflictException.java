package io.deia.core.project;

import io.deia.core.DeiaException;
import io.deia.core.ErrorCode;

import java.util.List;
import java.util.Map;

/**
 * A {@link ErrorCode#CONFLICT} about files: a merge whose changes clash, or a user's work tree whose
 * uncommitted edits a merge would have to touch. The files are part of the error a client sees
 * ({@code {"error": {"code": "conflict", "message": …, "files": [...]}}}), so it can show them.
 */
public final class FileConflictException extends DeiaException {
    private static final long serialVersionUID = 1L;

    /** The paths in conflict, relative to the repository's top folder. */
    private final List<String> files;

    /**
     * A conflict about {@code files}.
     *
     * @param message the reason, as shown to the caller
     * @param files   the paths in conflict, relative to the repository
     */
    public FileConflictException(String message, List<String> files) {
        super(ErrorCode.CONFLICT, message);
        this.files = List.copyOf(files);
    }

    /** The paths in conflict, relative to the repository's top folder. */
    public List<String> files() {
        return files;
    }

    @Override
    public Map<String, Object> details() {
        return Map.of("files", files);
    }
}
