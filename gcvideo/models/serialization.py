"""Reading weight files without running their code, with one-line errors.

Every file gcvideo reads weights from goes through :func:`load_torch_file`: ``torch.load`` with
``weights_only=True`` (tensors, containers, numbers and strings; no other class is rebuilt, so a
pickled payload cannot run). What goes wrong is one ``ValueError`` line naming the file: missing,
empty, text or another format, truncated, or an :class:`UnsafeFile` that names the Python global it
would have had to import.
"""
import os
import pickle
import re
from typing import Sequence


class UnsafeFile(ValueError):
    """A file whose unpickling would import a global outside the allow-list (it could run code)."""


def first_line(err: Exception) -> str:
    """The line of an exception's message that names its cause (at most 200 characters)."""
    lines = [line.strip() for line in str(err).strip().splitlines() if line.strip()]
    # torch's weights_only errors start with a paragraph of advice: keep the line that names the cause
    cause = next((line for line in lines if "Unsupported" in line or "error" in line.lower()), None)
    return (cause or (lines[0] if lines else type(err).__name__))[:200]


def describe_format(path: str) -> str:
    """What a file that is not a PyTorch file looks like, from its first bytes."""
    with open(path, "rb") as f:
        head = f.read(64)
    if not head:
        return "an empty file"
    if head.startswith(b"PK\x03\x04"):
        return "a zip archive"                   # torch.save's format, complete or not
    if head.startswith(b"\x80") or head[:1] in (b"(", b"}", b"]"):
        return "a plain pickle"
    if b"\0" not in head and all(32 <= c < 127 or c in (9, 10, 13) for c in head):
        preview = head.decode("ascii").strip().splitlines()[0][:40]
        return f"a text file (it starts {preview!r})"
    return "not a PyTorch file"


def load_torch_file(path: str, what: str = "weights file", trust: bool = False, trust_hint: str = "",
                    safe_globals: Sequence = ()) -> object:
    """The object ``torch.save`` wrote to ``path``, read without running code (unless ``trust``:
    full pickle, for files from a trusted source). Errors are one line naming ``path``;
    ``trust_hint`` (e.g. "--trust_checkpoint") is offered in the :class:`UnsafeFile` message."""
    import torch

    if not os.path.isfile(path):
        raise FileNotFoundError(f"{what} not found: {path}")
    if os.path.getsize(path) == 0:
        raise ValueError(f"{path} is empty (0 bytes): not a {what}")
    try:
        with torch.serialization.safe_globals(list(safe_globals)):
            return torch.load(path, map_location="cpu", weights_only=not trust)
    except pickle.UnpicklingError as err:
        found = re.search(r"GLOBAL ([\w.]+)", str(err))
        if found:
            raise UnsafeFile(f"{path} holds a {found.group(1)} object, which a {what} never needs: refused, "
                             "because loading it could run code"
                             + (f" (if you trust its source: {trust_hint})" if trust_hint else "")) from None
        reason = first_line(err)
    except Exception as err:  # noqa: BLE001 - torch raises RuntimeError, EOFError, ... by cause
        reason = first_line(err)
    if describe_format(path) not in ("a zip archive", "a plain pickle"):
        raise ValueError(f"{path} is {describe_format(path)}, not a {what} (a file written by torch.save)") from None
    raise ValueError(f"{path} is not a readable {what} (truncated by a crash, or not written by torch.save?): "
                     f"{reason}") from None
