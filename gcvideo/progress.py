"""Progress that a terminal, a log file and a pipe can each hold.

On a terminal, :func:`progress_bar` is a tqdm bar redrawn in place. When stderr is not a terminal (a
log file under SLURM, ``| tee``, a CI log) a redrawn bar would store every redraw, joined by
carriage returns; there it writes whole lines instead: one when the work starts, one every
:data:`LINE_EVERY` seconds, one when it ends. Lightning's bars have their line form in
:class:`gcvideo.engine.callbacks.LineProgress`.
"""
import os
import re
import sys

LINE_EVERY = 30.0          # seconds between progress lines in a log file
_CONTROL = re.compile(r"\x1b\[[0-9;]*[A-Za-z]|[\r\n]")


def is_terminal(stream=None) -> bool:
    """Whether ``stream`` (stderr) is a terminal; ``GCVIDEO_PROGRESS=lines`` / ``bar`` overrides."""
    forced = os.environ.get("GCVIDEO_PROGRESS", "").lower()
    if forced in ("lines", "bar"):
        return forced == "bar"
    stream = stream or sys.stderr
    return bool(getattr(stream, "isatty", lambda: False)())


class LineWriter:
    """A file for tqdm that keeps whole lines: each refresh's text, without carriage returns and
    cursor moves, on a line of its own (a refresh that repeats the last line is dropped)."""

    def __init__(self, stream) -> None:
        self.stream, self.last = stream, None

    def write(self, text: str) -> None:
        line = _CONTROL.sub("", text).strip()
        if line and line != self.last:
            self.stream.write(line + "\n")
            self.last = line

    def flush(self) -> None:
        self.stream.flush()


def progress_bar(iterable=None, **options):
    """``tqdm(iterable, **options)``, in lines when stderr is not a terminal (see the module)."""
    from tqdm import tqdm

    if not options.get("disable") and not is_terminal(options.get("file")):
        options = {**options, "file": LineWriter(options.get("file") or sys.stderr), "mininterval": LINE_EVERY,
                   "maxinterval": LINE_EVERY, "dynamic_ncols": False, "ncols": 100}
    return tqdm(iterable, **options)
