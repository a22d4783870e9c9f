"""Output places checked before work starts, so a read-only folder is found out in a second,
not after a full scan or a full epoch."""
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
