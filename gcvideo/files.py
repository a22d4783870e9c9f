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


def file_sha256(path: str) -> str:
    """The sha256 of a file's content (hex), read in 1 MiB blocks."""
    import hashlib

    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _same(a: str, b: str) -> bool:
    """``a`` and ``b`` name one file or folder (links, ``..`` and hard links seen through)."""
    try:
        return os.path.samefile(a, b)
    except OSError:
        return os.path.realpath(a) == os.path.realpath(b)


def _inside(path: str, folder: str) -> bool:
    real, top = os.path.realpath(path), os.path.realpath(folder)
    return real == top or real.startswith(top.rstrip(os.sep) + os.sep)


def check_folder_possible(folder: str, what: str) -> None:
    """``ValueError`` when ``folder`` cannot be made because a file stands at or above it."""
    parent = os.path.abspath(folder)
    while not os.path.exists(parent) and parent != os.path.dirname(parent):
        parent = os.path.dirname(parent)
    if not os.path.isdir(parent):
        raise ValueError(f"{what}: {parent} is a file, not a folder")


def check_outputs(paths, *, inputs=(), overwrite: bool = False, what: str = "--out") -> None:
    """Every file a command is about to write, checked before any work: ``ValueError`` in one line
    naming ``what`` and the file when it is one of the ``inputs`` (a file, or anything already in
    an input folder: always refused), an existing folder, under a file, a dangling link, or
    exists and ``overwrite`` (``--overwrite``) was not given. Nothing is ever written over
    without being asked, and never over what the command reads."""
    for path in [paths] if isinstance(paths, str) else paths:
        for source in inputs:
            if source and os.path.exists(source) and (
                    _same(path, source) or (os.path.isdir(source) and os.path.lexists(path)
                                            and _inside(path, source))):
                raise ValueError(f"{what} {path} is {'one of the inputs' if _same(path, source) else 'a file of the input ' + source}"
                                 ": it is never written over; choose another output")
        if os.path.isdir(path):
            raise ValueError(f"{what} {path} is a folder: name a file")
        check_folder_possible(os.path.dirname(os.path.abspath(path)), f"{what} {path}")
        if os.path.islink(path) and not os.path.exists(path):
            raise ValueError(f"{what} {path} is a link to nothing ({os.readlink(path)}): remove it or choose "
                             "another output")
        if os.path.lexists(path) and not overwrite:
            raise ValueError(f"{what} {path} exists: it is not replaced unless you add --overwrite")


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
        if not os.path.isdir(folder):
            raise WriteFailed(f"cannot write {path}: its folder {folder} "
                              f"{'is a file' if os.path.exists(folder) else 'does not exist'}") from None
        free = shutil.disk_usage(folder).free
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
