"""Output places checked before work starts, so a read-only folder is found out in a second,
not after a full scan or a full epoch; one run per folder (:class:`FolderLock`); and the ways a
run stops early that every command reports in one line (:class:`Terminated`, :class:`Diverged`)."""
import os
import tempfile


def check_writable(folder: str, what: str, hint: str = "") -> str:
    """Create ``folder`` if needed and a file in it (removed again); else a PermissionError
    naming ``what`` (the option or the output), the folder, the reason and ``hint``."""
    folder = folder or "."
    try:
        os.makedirs(folder, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".gcvideo-write-test-"):
            pass
    except OSError as err:
        reason = err.strerror or type(err).__name__
        raise PermissionError(f"{what}: cannot write to {folder} ({reason})" + (f"; {hint}" if hint else "")) \
            from None
    return folder


class WriteFailed(OSError):
    """Writing an output failed (a full disk, a read-only or vanished folder): one line naming
    the file or folder; what was written before is complete."""


def write_atomic(path: str, data: bytes) -> str:
    """``data`` under ``path`` via a temporary file beside it and a rename: ``path`` is either
    complete or as it was. A failure is a :class:`WriteFailed` naming the path, the reason and
    the space there."""
    import shutil

    temporary = os.path.join(os.path.dirname(path) or ".", f".{os.path.basename(path)}.tmp-{os.getpid()}")
    try:
        with open(temporary, "wb") as f:
            f.write(data)
        os.replace(temporary, path)
    except OSError as err:
        if os.path.exists(temporary):
            os.remove(temporary)
        folder = os.path.dirname(os.path.abspath(path))
        free = shutil.disk_usage(folder).free if os.path.isdir(folder) else 0
        raise WriteFailed(f"cannot write {path} ({err.strerror or err}): {len(data) / 1e6:.1f} MB needed, "
                          f"{free / 1e6:.1f} MB free in {folder}") from None
    return path


def check_space(folder: str, needed: int, what: str) -> None:
    """:class:`WriteFailed` before any work when ``folder`` has less than ``needed`` bytes free."""
    import shutil

    free = shutil.disk_usage(folder).free
    if free < needed:
        raise WriteFailed(f"{what}: {folder} has {free / 1e6:.1f} MB free, and one file needs about "
                          f"{needed / 1e6:.1f} MB: free space or choose another folder")


class FolderInUse(RuntimeError):
    """Another run holds the folder's lock."""


class Terminated(RuntimeError):
    """A run stopped by SIGTERM (pre-emption): the command exits 128 + 15, never 0."""


class Diverged(RuntimeError):
    """Training produced a NaN or infinite loss: the command exits 1."""


class FolderLock:
    """An exclusive lock on ``folder`` for one run (``fcntl.flock`` on ``folder/.gcvideo.lock``,
    released when the run ends or its process dies, so a crash never leaves a stale lock). A
    second run into the same folder gets a :class:`FolderInUse` naming the first's pid and command."""

    NAME = ".gcvideo.lock"

    def __init__(self, folder: str, what: str) -> None:
        self.folder, self.what, self._file = folder, what, None

    def __enter__(self) -> "FolderLock":
        import fcntl
        import sys

        check_writable(self.folder, self.what)
        path = os.path.join(self.folder, self.NAME)
        handle = open(path, "a+", encoding="utf-8")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            handle.close()
            raise FolderInUse(f"{self.folder} is in use by another run ({holder}): wait for it to finish, or "
                               f"give this {self.what} another folder") from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()}: {' '.join(os.path.basename(a) if i == 0 else a for i, a in enumerate(sys.argv))[:200]}")
        handle.flush()
        self._file = handle
        return self

    def __exit__(self, *exc) -> None:
        if self._file is not None:
            self._file.close()                    # closing the file releases the lock
            self._file = None
