"""Scan a video list, sort every video into ok / bad, write a clean list (``gcvideo data check``).

A video is checked as training would use it: headers probed, then frames decoded at
the start, middle and last usable time (which catches truncated files whose headers
promise more than they hold), and its duration compared to one clip. ``full``: every frame is
decoded, the decoder stopping at any error (damage in the middle of a file is "corrupt").
"""
import csv
import io
import os
from collections import Counter
from dataclasses import asdict, dataclass
from functools import partial
from typing import Optional, Sequence

from . import decode, sampling
from ..files import check_writable, write_atomic
from .parallel import parallel_map
from .records import VideoRecord, charades_csv_bytes, list_format, list_rows, load_records

STATUSES = ("ok", "missing", "unreadable", "corrupt", "truncated", "too short", "timeout")


@dataclass
class CheckResult:
    path: str
    label: str
    status: str
    reason: str = ""
    duration: float = 0.0
    fps: float = 0.0
    width: int = 0
    height: int = 0


def check_video(record: VideoRecord, num_frames: int = 8, sampling_rate: int = 8,
                target_fps: float = 30.0, backend: str = "pyav",
                timeout: Optional[float] = decode.DEFAULT_TIMEOUT, full: bool = False) -> CheckResult:
    result = CheckResult(record.path, record.label, "ok")
    try:
        info = decode.probe(record.path, timeout)
        result.duration, result.fps, result.width, result.height = (
            round(info.duration, 3), round(info.fps, 3), info.width, info.height)
        short = sampling.too_short(info.duration, info.fps, num_frames, sampling_rate, target_fps)
        if short:
            result.status, result.reason = "too short", short
            return result
        if full:
            decode.decode_all(record.path, timeout)
        else:
            decode.decode_ends(record.path, info, backend, timeout)
    except decode.VideoError as err:
        result.status = err.reason if err.reason in STATUSES else "unreadable"
        result.reason = err.summary
    except Exception as err:  # noqa: BLE001 - a checker reports, it does not crash
        result.status, result.reason = "unreadable", f"{type(err).__name__}: {err}"
    return result


def check_videos(records: Sequence[VideoRecord], workers: Optional[int] = None, progress: bool = True,
                 **options) -> list[CheckResult]:
    """:func:`check_video` (with ``options``) on every record, over ``workers`` processes."""
    return parallel_map(partial(check_video, **options), records, workers, "checking videos", progress,
                        chunksize=4, start_method=decode.worker_context(options.get("backend", "pyav")))


def summary_table(results: Sequence[CheckResult]) -> str:
    counts = Counter(r.status for r in results)
    lines = [f"{'status':12s} {'videos':>7s}  example"]
    for status in STATUSES:
        example = next((f"{os.path.basename(r.path)}: {r.reason}" for r in results
                        if r.status == status and status != "ok"), "")
        lines.append(f"{status:12s} {counts.get(status, 0):7d}  {example}")
    ok = [r.duration for r in results if r.status == "ok"]
    if ok:
        lines.append(f"durations of ok videos: min {min(ok):.2f}s, mean {sum(ok) / len(ok):.2f}s, "
                     f"max {max(ok):.2f}s")
    return "\n".join(lines)


def output_stem(source: str, out_prefix: Optional[str] = None) -> str:
    """Where the clean list and the report go: ``out_prefix``, else beside the list (or folder)."""
    return out_prefix or os.path.splitext(source.rstrip("/"))[0]


def write_outputs(source: str, results: Sequence[CheckResult], out_prefix: Optional[str] = None,
                  lines: Optional[Sequence[int]] = None) -> dict:
    """Clean list in the input's own format (a list file's ok rows verbatim: the same columns,
    separators and header; a repeated row once) and a bad-video report. ``results`` are in the
    source's order, ``lines`` the list line of each (``RecordTable.lines``)."""
    stem = output_stem(source, out_prefix)
    paths = {}
    if os.path.isfile(source) and list_format(source) in ("kinetics", "path-label"):
        header, rows = list_rows(source)
        if lines is None or len(lines) != len(results):
            raise ValueError(f"{source}: {len(rows)} rows but {len(results)} videos were checked; "
                             "no clean list written")
        good = {int(n) for n, r in zip(lines, results) if r.status == "ok"}
        paths["clean"] = f"{stem}.clean{os.path.splitext(source)[1] or '.txt'}"
        lines = header + [row if row.endswith(("\n", "\r")) else row + "\n" for n, row in rows if n in good]
    elif os.path.isfile(source) and list_format(source) == "charades":   # its own CSV: multi-label spans kept
        paths["clean"] = f"{stem}.clean.csv"
        lines = [charades_csv_bytes(source, {int(n) for n, r in zip(lines, results)
                                                              if r.status == "ok"}).decode("utf-8", "surrogateescape")]
    else:  # a class-folder tree, UCF101/HMDB51 split files, SSv2 JSON: one "path class" row per video
        # (the list grammar reads it back; a class name may hold spaces after the video's extension)
        paths["clean"] = f"{stem}.clean.txt"
        lines = [f"{os.path.abspath(r.path)} {r.label}\n" for r in results if r.status == "ok"]
    report = io.StringIO(newline="")
    writer = csv.DictWriter(report, fieldnames=list(asdict(results[0]).keys()) if results else ["path"])
    writer.writeheader()
    writer.writerows(asdict(r) for r in results if r.status != "ok")
    paths["bad"] = f"{stem}.bad.csv"
    # file names that are not UTF-8 (latin-1 bytes, ...) keep their bytes; both files complete or absent
    write_atomic(paths["clean"], "".join(lines).encode("utf-8", "surrogateescape"))
    write_atomic(paths["bad"], report.getvalue().encode("utf-8", "surrogateescape"))
    return paths


def scan(source: str, root: Optional[str] = None, workers: Optional[int] = None, out_prefix: Optional[str] = None,
         progress: bool = True, classes=None, **options) -> tuple[list[CheckResult], dict]:
    """Check every video of ``source`` (``check_video``'s ``options``) and write the clean list and
    the bad-video report; returns the results in the source's order and the two files' paths."""
    records = load_records(source, root, classes)
    where = os.path.dirname(os.path.abspath(output_stem(source, out_prefix)))
    check_writable(where, "clean list and report", "give a writable output prefix (out_prefix)" if out_prefix is None
                   else "choose another output prefix")
    results = check_videos(records, workers, progress=progress, **options)
    return results, write_outputs(source, results, out_prefix, records.lines)
