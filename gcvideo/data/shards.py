"""A video collection as a few large shards (``gcvideo data shard``), read like a list of files.

At Kinetics scale a list names 240k small files; on a shared file system every one is an open,
a metadata lookup and a small read. ``write_shards`` packs a list's videos, in list order, into
tar files of about ``shard_size`` bytes -- WebDataset's layout: each video is a member
``<key>.<ext>`` holding its encoded bytes untouched, beside ``<key>.json`` with its label and id, so
``tar``, WebDataset and any tar reader open them -- and writes an index:

* ``shards.json``: the format, what was sharded (the list, its rows' hash, the shard size), and
  every shard's name, bytes and sha256;
* ``index.csv``: one row per video in list order: shard, byte offset and size of its bytes in
  that shard, label, video id.

Reading does not stream the tars: the index gives every video's byte range, so a video is one
positional read (``os.pread``) from a shard that each process opens once. Its record path is the
virtual ``<shard>.tar#<offset>+<size>/<name>`` (:func:`member_path`), which the decoders read
through :func:`open_source`; everything gcvideo does with a list of files -- the same
(seed, epoch, video, k) draws, exact mid-epoch resume, DDP splits, decode-once multi-view testing,
bad-video replacement and reports -- is keyed on the video's index and works unchanged.

Why tar and not litdata's chunks: shards that any tool can list and extract, no extra dependency,
and random access by index (which the deterministic draws and exact resume need) from the byte
offsets of the index; litdata's random access works too, but through its own binary format,
cache and version coupling with Lightning. Local folders and mounted object stores (s3fs,
gcsfuse) are read alike; a URL is not.

Writing is resumable: each shard is written under a temporary name and renamed when complete,
and the index is rewritten after each one, so an interrupted run continues after its last
complete shard; a run into a folder sharded from another list or shard size is refused.
``verify`` re-hashes every shard against the index.
"""
import csv
import hashlib
import io
import json
import os
import re
import tarfile
from typing import Optional

from ..files import file_sha256

FORMAT = "gcvideo-shards 1"
INDEX, MANIFEST = "index.csv", "shards.json"
INDEX_FIELDS = ["shard", "offset", "size", "label", "video_id"]
_MEMBER = re.compile(r"^(.*\.tar)#(\d+)\+(\d+)/([^/]*)$")

OPENED = {"shards": 0}        # shard files this process opened (benchmarks/shard_throughput.py)
_handles: dict = {}           # (pid, shard path) -> file descriptor, one per process


def member_path(shard: str, offset: int, size: int, name: str) -> str:
    """The virtual path of a video's bytes inside a shard (a record's path)."""
    return f"{shard}#{offset}+{size}/{name}"


def is_member(path: str) -> bool:
    return isinstance(path, str) and ".tar#" in path and _MEMBER.match(path) is not None


def parse_member(path: str) -> tuple[str, int, int, str]:
    """(shard file, offset, size, name) of a member path."""
    shard, offset, size, name = _MEMBER.match(path).groups()
    return shard, int(offset), int(size), name


def member_bytes(path: str) -> bytes:
    """A member's bytes: one positional read from its shard, opened once per process (``OSError``
    when the shard is missing or shorter than the index says)."""
    shard, offset, size, _ = parse_member(path)
    key = (os.getpid(), shard)               # a forked loader worker opens its own descriptor
    fd = _handles.get(key)
    if fd is None:
        fd = _handles[key] = os.open(shard, os.O_RDONLY)
        OPENED["shards"] += 1
    data = os.pread(fd, size, offset)
    if len(data) != size:
        raise OSError(f"{shard} ends {size - len(data)} bytes inside {os.path.basename(path)}")
    return data


def open_source(path: str):
    """What a decoder opens for ``path``: the path of a file, or an in-memory copy of a shard member."""
    return io.BytesIO(member_bytes(path)) if is_member(path) else path


def is_shard_folder(path: str) -> bool:
    return os.path.isdir(path) and os.path.isfile(os.path.join(path, MANIFEST))


def _manifest(out: str) -> Optional[dict]:
    try:
        with open(os.path.join(out, MANIFEST), encoding="utf-8") as f:
            manifest = json.load(f)
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as err:
        raise ValueError(f"{os.path.join(out, MANIFEST)} is not readable JSON ({err}): shard again into a "
                         "new folder") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise ValueError(f"{os.path.join(out, MANIFEST)} is not a {FORMAT} index")
    return manifest


def read_shards(folder: str):
    """The records of a shard folder, in its list's order (``RecordTable``: member paths, labels, ids;
    a video whose shard is missing or too short is absent, reported like a missing file)."""
    from .records import RecordTable

    manifest = _manifest(folder)
    if manifest is None:
        raise FileNotFoundError(f"{folder}: no {MANIFEST} (not a `gcvideo data shard` output)")
    sizes = {}
    for shard in manifest["shards"]:
        path = os.path.join(folder, shard["name"])
        sizes[shard["name"]] = os.path.getsize(path) if os.path.exists(path) else -1
    paths, labels, ids, present = [], [], [], []
    with open(os.path.join(folder, INDEX), newline="", encoding="utf-8", errors="surrogateescape") as f:
        for line, row in enumerate(csv.DictReader(f), 2):
            try:
                offset, size = int(row["offset"]), int(row["size"])
            except (KeyError, TypeError, ValueError):
                raise ValueError(f"{os.path.join(folder, INDEX)}:{line}: expected {','.join(INDEX_FIELDS)}") from None
            name = os.path.basename(row["video_id"]) + (row.get("ext") or ".mp4")
            paths.append(member_path(os.path.join(folder, row["shard"]), offset, size, name))
            labels.append(row["label"])
            ids.append(row["video_id"])
            present.append(0 <= offset + size <= sizes.get(row["shard"], -1))
    return RecordTable(paths, labels, ids, present, list(range(2, len(paths) + 2)),
                       multi_label=bool(manifest.get("multi_label")))


def source_key(records, shard_size: int) -> dict:
    """What a shard folder is made from: its list's rows (paths, labels, ids, in order) and the shard size."""
    digest = hashlib.sha256()
    for i in range(len(records)):
        row = f"{records.path(i)}\t{records.label(i)}\t{records.video_id(i)}\n"
        digest.update(row.encode("utf-8", "surrogateescape"))
    return {"rows": len(records), "rows_sha256": digest.hexdigest(), "shard_size": shard_size}


def write_shards(source: str, out: str, root: Optional[str] = None, shard_size: int = 1 << 30,
                 classes=None, progress: bool = True) -> dict:
    """Pack the videos of ``source`` (any list :func:`~gcvideo.data.records.load_records` reads) into
    tar shards of about ``shard_size`` bytes under ``out`` with ``shards.json`` and ``index.csv``;
    resumes an interrupted run into the same ``out``. Missing files are left out and counted.
    Returns a summary (videos, shards, bytes, missing, done before)."""
    from ..files import FolderLock, check_folder_possible, write_atomic
    from ..progress import progress_bar
    from .records import load_records

    if shard_size < 1:
        raise ValueError(f"shard_size must be > 0 bytes, got {shard_size}")
    records = load_records(source, root, classes)
    key = {"source": os.path.abspath(source), **source_key(records, shard_size)}
    check_folder_possible(out, "data shard OUT")
    os.makedirs(out, exist_ok=True)
    with FolderLock(out, "data shard OUT"):
        manifest = _manifest(out)
        if manifest is None and any(n for n in os.listdir(out) if n != FolderLock.NAME):
            raise ValueError(f"{out} is not empty and holds no {MANIFEST}: choose a new or empty folder")
        if manifest is not None:
            differ = [k for k in ("rows", "rows_sha256", "shard_size") if manifest["key"].get(k) != key[k]]
            if differ:
                raise ValueError(f"{out} holds shards of another list or shard size ({', '.join(differ)} differ): "
                                 "choose a new or empty folder")
        shards = list(manifest["shards"]) if manifest else []
        rows = _read_index(out) if manifest else []
        for shard in shards:                  # an interrupted run: its complete shards, as recorded
            path = os.path.join(out, shard["name"])
            if not os.path.exists(path) or os.path.getsize(path) != shard["bytes"]:
                raise ValueError(f"{path} is missing or not the size {MANIFEST} records ({shard['bytes']} bytes): "
                                 "shard again into a new folder")
        done_before = manifest["next"] if manifest else 0
        missing = list(manifest.get("missing", [])) if manifest else []
        pending: list[int] = []
        state = {"next": done_before}

        def save() -> None:
            write_atomic(os.path.join(out, INDEX), _index_bytes(rows))
            write_atomic(os.path.join(out, MANIFEST), json.dumps(
                {"format": FORMAT, "key": key, "multi_label": records.multi_label, "shards": shards,
                 "next": state["next"], "missing": missing}, indent=1).encode())

        def flush(upto: int) -> None:
            if not pending:
                state["next"] = upto
                save()
                return
            name = f"shard-{len(shards):05d}.tar"
            temporary = os.path.join(out, f".{name}.partial")
            entries = []
            with tarfile.open(temporary, "w", format=tarfile.GNU_FORMAT) as tar:
                for n, i in enumerate(pending):
                    path = records.path(i)
                    stem = f"{len(shards):05d}{n:06d}"
                    ext = os.path.splitext(path)[1].lower() or ".mp4"
                    info = tarfile.TarInfo(stem + ext)
                    info.size = os.path.getsize(path)
                    # where its bytes start: after its header (addfile records it on a copy only)
                    start = tar.offset + len(info.tobuf(tar.format, tar.encoding, tar.errors))
                    with open(path, "rb") as f:
                        tar.addfile(info, f)
                    entries.append((i, start, info.size, ext))
                    meta = json.dumps({"label": records.label(i), "video_id": records.video_id(i),
                                       "path": path}).encode("utf-8", "surrogateescape")
                    info = tarfile.TarInfo(stem + ".json")
                    info.size = len(meta)
                    tar.addfile(info, io.BytesIO(meta))
            digest = file_sha256(temporary)
            os.replace(temporary, os.path.join(out, name))
            shards.append({"name": name, "bytes": os.path.getsize(os.path.join(out, name)), "sha256": digest,
                           "videos": len(entries)})
            rows.extend({"shard": name, "offset": offset, "size": size, "label": records.label(i),
                         "video_id": records.video_id(i), "ext": ext} for i, offset, size, ext in entries)
            pending.clear()
            state["next"] = upto
            save()

        size = 0
        todo = range(done_before, len(records))
        for i in progress_bar(todo, desc="sharding videos", unit="video", disable=not progress or not len(todo)):
            path = records.path(i)
            if not os.path.isfile(path):
                missing.append(path)
                continue
            pending.append(i)
            size += os.path.getsize(path)
            if size >= shard_size:
                flush(i + 1)
                size = 0
        flush(len(records))
    return {"videos": len(rows), "shards": len(shards), "bytes": sum(s["bytes"] for s in shards),
            "missing": len(missing), "done before": done_before, "index": os.path.join(out, INDEX)}


def verify(out: str) -> list[str]:
    """The shards of ``out`` whose size or sha256 differs from ``shards.json`` (empty: all intact)."""
    manifest = _manifest(out)
    if manifest is None:
        raise FileNotFoundError(f"{out}: no {MANIFEST} (not a `gcvideo data shard` output)")
    bad = []
    for shard in manifest["shards"]:
        path = os.path.join(out, shard["name"])
        if not os.path.exists(path) or os.path.getsize(path) != shard["bytes"] or file_sha256(path) != shard["sha256"]:
            bad.append(shard["name"])
    return bad


def _read_index(out: str) -> list[dict]:
    with open(os.path.join(out, INDEX), newline="", encoding="utf-8", errors="surrogateescape") as f:
        return list(csv.DictReader(f))


def _index_bytes(rows: list[dict]) -> bytes:
    text = io.StringIO(newline="")
    writer = csv.DictWriter(text, fieldnames=INDEX_FIELDS + ["ext"])
    writer.writeheader()
    writer.writerows(rows)
    return text.getvalue().encode("utf-8", "surrogateescape")
