"""Video lists from the layouts users already have, and the class index mapping.

The layouts, all resolved to a list of :class:`VideoRecord`:

* Kinetics CSV (``label,youtube_id,time_start,time_end,split``, as distributed for
  Kinetics-400/600/700) + a video root holding ``{youtube_id}_{start:06d}_{end:06d}.mp4``
  (or .webm/.mkv), either in one folder per class or flat;
* "path label" text lists (pytorchvideo/SlowFast): one ``path label`` per line,
  the label an integer index or a class name, paths relative to the root;
* a plain class-folder tree (UCF/HMDB style): ``root/<class>/<video>``;
* UCF101's official split files (``ucfTrainTestlist/trainlist0N.txt`` rows ``Class/v_Class_g08_c01.avi
  INDEX``, ``testlist0N.txt`` rows without the index: the class is the folder), read with the
  ``classInd.txt`` beside them (``INDEX Class``, 1-based);
* HMDB51's official split files (``testTrainMulti_7030_splits/<class>_test_splitN.txt``, rows
  ``video.avi K`` with K 1 = train, 2 = test, 0 = unused): the list ``SPLITS/train_splitN`` (or
  ``test_splitN``) is split N's training (testing) videos of every class, ``root/<class>/video.avi``;
* Something-Something v2's JSON (``train.json``, ``validation.json``: ``[{"id", "label",
  "template", "placeholders"}]``; ``test.json`` ids only): the class is the template without its
  brackets (``Pushing something from left to right``, as ``labels.json`` names it), the video
  ``root/<id>.webm``;
* Charades' CSV (``Charades_v1_train.csv``, ``Charades_v1_test.csv``: columns ``id``, ``actions``, ...;
  ``actions`` = ``c092 11.90 21.20;c147 0.00 12.60``, each action's class and its span in seconds):
  multi-label, the video ``root/<id>.mp4``. A record's label is its actions as written (the spans
  kept: a training clip's targets are the actions its frames overlap); the classes are the action
  ids (``c000`` ... ``c156``), see :func:`label_classes`.

Class indices are the sorted label names of the train split (or an explicit
classes file, one name per line), saved with every checkpoint.

At Kinetics scale (240k-650k rows) the records are built by listing each folder once
(never a ``stat`` per candidate path) and kept in a :class:`RecordTable`: a few numpy
arrays instead of one Python object per video, so DataLoader workers share its memory
pages instead of copying them as reference counts change.

List grammar (one rule for every reader, and for ``data check``'s clean lists): files are
UTF-8, a byte-order mark is ignored; blank lines and, in path-label lists, lines starting
with ``#`` are not rows. A path-label row is ``PATH SEP LABEL`` where SEP is any run of
spaces, tabs or commas:

1. a row starting with ``"`` is one CSV record (``"dir/a, b.mp4",label``);
2. otherwise, when PATH ends in a video extension (.mp4 .webm .mkv .avi .mov .m4v), the row
   splits after the last such extension that is followed by SEP -- so paths and labels may
   both hold spaces and commas (``dir/clip, 0.mp4 playing guitar``);
3. otherwise, at the last tab, else at the last SEP (the label then has no spaces).

An integer label indexes the classes file when one is given, else it is the class's name. Any row that cannot be read is an error that
names the file and line.
"""
import csv
import hashlib
import os
import re
import warnings
from collections.abc import Sequence as SequenceABC
from dataclasses import dataclass
from typing import Iterable, Optional, Sequence, Union

import numpy as np

VIDEO_EXTENSIONS = (".mp4", ".webm", ".mkv", ".avi", ".mov", ".m4v")
KINETICS_COLUMNS = ("label", "youtube_id", "time_start", "time_end")
_AFTER_VIDEO = re.compile(r"^(.*\.(?:%s))[\s,]+(\S.*)$" % "|".join(e[1:] for e in VIDEO_EXTENSIONS),
                          re.IGNORECASE)
_LAST_SEP = re.compile(r"^(.*?)[\s,]+([^\s,]+)$")
_SPLIT_ALIASES = {"validate": "val", "val": "validate"}


@dataclass(frozen=True)
class VideoRecord:
    path: str                  # where the file should be; it may be missing
    label: str                 # class name ("" when unknown, e.g. the Kinetics test split)
    video_id: str              # youtube id / file stem, used in reports


class _Strings:
    """Strings in one byte buffer with offsets: no Python object per string."""

    def __init__(self, strings: Iterable[str]) -> None:
        encoded = [os.fsencode(text) for text in strings]      # surrogateescape: any file name
        self.offsets = np.zeros(len(encoded) + 1, np.int64)
        np.cumsum([len(e) for e in encoded], out=self.offsets[1:])
        self.buffer = np.frombuffer(b"".join(encoded), np.uint8).copy()

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def __getitem__(self, i: int) -> str:
        return os.fsdecode(self.buffer[self.offsets[i]:self.offsets[i + 1]].tobytes())


class RecordTable(SequenceABC):
    """A sequence of :class:`VideoRecord` stored as numpy arrays (paths and ids in byte
    buffers, labels as codes into ``label_names``), plus whether each file was present when
    the table was built. Indexing builds a VideoRecord on demand; a slice gives a list."""

    def __init__(self, paths: Sequence[str], labels: Sequence[str], video_ids: Sequence[str],
                 present: Optional[Sequence[bool]] = None, lines: Optional[Sequence[int]] = None,
                 multi_label: bool = False) -> None:
        if not len(paths) == len(labels) == len(video_ids):
            raise ValueError("paths, labels and video_ids differ in length")
        # multi-label (Charades): each label is a video's actions with their spans (label_classes)
        self.multi_label = multi_label
        # the list line each record was read from (None: not read from a list file)
        self.lines = np.asarray(lines, np.int64) if lines is not None else None
        self._paths, self._ids = _Strings(paths), _Strings(video_ids)
        self.label_names = tuple(sorted(set(labels)))
        code = {name: i for i, name in enumerate(self.label_names)}
        self.label_codes = np.fromiter((code[label] for label in labels), np.int32, len(labels))
        self.present = (np.asarray(present, bool) if present is not None
                        else np.fromiter((os.path.exists(p) for p in paths), bool, len(paths)))

    @classmethod
    def of(cls, records: Union["RecordTable", Sequence[VideoRecord]],
           present: Optional[Sequence[bool]] = None) -> "RecordTable":
        """``records`` as a table (a table as it is); ``present`` as in the constructor."""
        if isinstance(records, cls):
            return records
        return cls([r.path for r in records], [r.label for r in records], [r.video_id for r in records], present)

    def __len__(self) -> int:
        return len(self.label_codes)

    def __getitem__(self, index):
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        index = int(index)
        if not -len(self) <= index < len(self):
            raise IndexError(f"record {index} of {len(self)}")
        index %= len(self)
        return VideoRecord(self._paths[index], self.label_names[self.label_codes[index]], self._ids[index])

    def path(self, index: int) -> str:
        return self._paths[index]

    def label(self, index: int) -> str:
        return self.label_names[self.label_codes[index]]

    def video_id(self, index: int) -> str:
        return self._ids[index]

    def class_counts(self) -> dict[str, int]:
        """Videos per class named by the labels (a multi-label video counts for each of its classes;
        unlabelled videos are not counted)."""
        counts = np.bincount(self.label_codes, minlength=len(self.label_names))
        out: dict[str, int] = {}
        for label, count in zip(self.label_names, counts):
            for name in label_classes(label, self.multi_label):
                out[name] = out.get(name, 0) + int(count)
        return out


class _Listing:
    """Each folder's file names, read once (a missing folder lists nothing)."""

    def __init__(self) -> None:
        self._names: dict[str, frozenset] = {}

    def names(self, folder: str) -> frozenset:
        names = self._names.get(folder)
        if names is None:
            try:
                names = frozenset(os.listdir(folder))
            except (FileNotFoundError, NotADirectoryError):
                names = frozenset()
            self._names[folder] = names
        return names

    def exists(self, path: str) -> bool:
        from .shards import is_member, parse_member

        if is_member(path):                          # a video inside a shard: its shard is there
            path = parse_member(path)[0]
        folder, name = os.path.split(path)
        return name in self.names(folder)


def fingerprint(records: RecordTable) -> dict:
    """Which copy of a collection this is: rows, videos present, and a hash of the sorted
    (video id, size in bytes) of the present ones -- copies of Kinetics differ by thousands."""
    lines = []
    from .shards import is_member, parse_member

    for i in np.flatnonzero(records.present):
        path = records.path(i)
        try:
            size = parse_member(path)[2] if is_member(path) else os.stat(path).st_size
        except OSError:
            continue
        lines.append(f"{records.video_id(i)}\t{size}\n")
    digest = hashlib.sha256("".join(sorted(lines)).encode("utf-8", "surrogateescape")).hexdigest()
    return {"rows": len(records), "present": len(lines), "sha256": digest[:16]}


def kinetics_filename(youtube_id: str, start: float, end: float) -> str:
    return f"{youtube_id}_{int(float(start)):06d}_{int(float(end)):06d}"


def list_rows(path: str) -> tuple[list[str], list[tuple[int, str]]]:
    """A list file's header lines and its data rows as (line number, line with its ending).

    The one rule for which lines are rows (see the module's list grammar): a Kinetics CSV
    (first line names ``youtube_id``) has one header line and every non-blank line after it
    is a row; in a path-label list every line that is not blank and not a ``#`` comment is.
    """
    with open(path, newline="", encoding="utf-8-sig", errors="surrogateescape") as f:
        lines = f.read().splitlines(keepends=True)
    kinetics = is_kinetics_header(lines[0]) if lines else False
    header = lines[:1] if kinetics else []
    rows = [(n, line) for n, line in enumerate(lines[len(header):], len(header) + 1)
            if line.strip() and (kinetics or not line.lstrip().startswith("#"))]
    return header, rows


def is_kinetics_header(line: str) -> bool:
    return "youtube_id" in next(csv.reader([line.lstrip("\ufeff")]), [])


class _Rows:
    """A list's records as they are read, each video once: a row naming a video already listed
    with the same label is dropped (one warning for the list, naming the first repeat); with
    another label it is an error naming both lines."""

    def __init__(self, list_path: str) -> None:
        self.list_path = list_path
        self.paths, self.labels, self.ids, self.present, self.lines = [], [], [], [], []
        self._first: dict[str, tuple[int, str]] = {}
        self.repeats: list[tuple[int, int]] = []

    def add(self, lineno: int, path: str, label: str, video_id: str, present: bool) -> None:
        key = os.path.normpath(path)
        first = self._first.setdefault(key, (lineno, label))
        if first[0] != lineno:
            if first[1] != label:
                raise ValueError(f"{self.list_path}:{lineno}: {path} is listed again with label {label!r}; line "
                                 f"{first[0]} gives it {first[1]!r}: one video has one label (remove one row)")
            self.repeats.append((lineno, first[0]))
            return
        self.paths.append(path)
        self.labels.append(label)
        self.ids.append(video_id)
        self.present.append(present)
        self.lines.append(lineno)

    def table(self, multi_label: bool = False) -> RecordTable:
        if self.repeats:
            line, first = self.repeats[0]
            warnings.warn(f"{self.list_path}: {len(self.repeats)} row(s) repeat an earlier row (e.g. line {line} = "
                          f"line {first}): each video counts once", stacklevel=3)
        return RecordTable(self.paths, self.labels, self.ids, self.present, self.lines, multi_label)


def read_kinetics_csv(csv_path: str, root: str) -> RecordTable:
    """Rows of an official Kinetics CSV, each matched to its file under ``root``.

    The file is looked up as ``root/<label>/<name>.<ext>``, ``root/<name>.<ext>``, then
    the same under a folder named after the row's split (``train/``, ``val/`` or
    ``validate/``); a row without a file keeps the class-folder path so reports can name it.
    Each candidate folder is listed once for the whole CSV.
    """
    header, rows = list_rows(csv_path)
    columns = next(csv.reader(header), [])
    if not set(KINETICS_COLUMNS) <= set(columns):
        raise ValueError(f"{csv_path}: not a Kinetics CSV; expected columns "
                         f"{','.join(KINETICS_COLUMNS)}[,split], got {columns}")
    listing, candidates = _Listing(), {}
    table = _Rows(csv_path)
    for (lineno, line), fields in zip(rows, csv.reader(line for _, line in rows)):
        if len(fields) != len(columns):
            raise ValueError(f"{csv_path}:{lineno}: expected {len(columns)} columns ({','.join(columns)}), "
                             f"got {len(fields)}: {line.strip()!r} (quote a label that holds a comma)")
        row = dict(zip(columns, fields))
        try:
            name = kinetics_filename(row["youtube_id"], row["time_start"], row["time_end"])
        except ValueError:
            raise ValueError(f"{csv_path}:{lineno}: time_start and time_end must be numbers, got "
                             f"{row['time_start']!r} and {row['time_end']!r}") from None
        label, split = row["label"], row.get("split", "")
        folders = candidates.get((label, split))
        if folders is None:       # in lookup order, each with its listing
            names = [os.path.join(root, label), root]
            for sub in sorted({split, _SPLIT_ALIASES.get(split, split)} - {""}):
                names += [os.path.join(root, sub, label), os.path.join(root, sub)]
            folders = candidates[(label, split)] = [(folder, listing.names(folder)) for folder in names]
        found = next((os.path.join(folder, name + ext) for folder, names in folders
                      for ext in VIDEO_EXTENSIONS if name + ext in names), None)
        table.add(lineno, found or os.path.join(folders[0][0], name + VIDEO_EXTENSIONS[0]), label,
                  row["youtube_id"], found is not None)
    return table.table()


def split_path_label(line: str) -> Optional[tuple[str, str]]:
    """(path, label) of one path-label row by the list grammar, or None when it has no label."""
    line = line.strip()
    if line.startswith('"'):
        fields = [f.strip() for f in next(csv.reader([line], skipinitialspace=True))]
        return (fields[0], fields[1]) if len(fields) == 2 and all(fields) else None
    match = _AFTER_VIDEO.match(line)
    if match:
        return match.group(1), match.group(2).strip()
    if "\t" in line:
        path, label = (part.strip() for part in line.rsplit("\t", 1))
        return (path, label) if path and label else None
    match = _LAST_SEP.match(line)
    return (match.group(1), match.group(2)) if match and match.group(1) else None


def read_path_label_list(list_path: str, root: str, classes: Optional[Sequence[str]] = None) -> RecordTable:
    """``path label`` rows (the module's list grammar); integer labels index ``classes`` when a
    classes file gives them, else they are class names ("0", "1", ...; ordered by value, see
    :func:`sort_class_names`), as in SlowFast's ``path int`` lists."""
    listing, table = _Listing(), _Rows(list_path)
    for lineno, line in list_rows(list_path)[1]:
        parts = split_path_label(line)
        if parts is None:
            raise ValueError(f"{list_path}:{lineno}: expected 'path label', got {line.strip()!r}")
        path, label = parts
        if label.lstrip("-").isdigit() and classes:
            index = int(label)
            if not 0 <= index < len(classes):
                raise ValueError(f"{list_path}:{lineno}: label {index} out of range for "
                                 f"{len(classes)} classes")
            label = classes[index]
        full = path if os.path.isabs(path) else os.path.join(root, path)
        table.add(lineno, full, label, os.path.splitext(os.path.basename(path))[0], listing.exists(full))
    return table.table()


def read_class_folders(root: str) -> RecordTable:
    """Every video file in ``root/<class>/`` (the UCF101/HMDB51 layout)."""
    if not os.path.isdir(root):
        raise FileNotFoundError(f"video folder not found: {root}")
    records, empty = [], []
    for label in sorted(os.listdir(root)):
        folder = os.path.join(root, label)
        if not os.path.isdir(folder):
            continue
        videos = [name for name in sorted(os.listdir(folder)) if name.lower().endswith(VIDEO_EXTENSIONS)]
        empty += [] if videos else [label]
        records += [VideoRecord(os.path.join(folder, name), label, os.path.splitext(name)[0]) for name in videos]
    if empty:   # a class without videos would silently change the class count
        warnings.warn(f"{root}: {len(empty)} class folder(s) hold no videos and are not classes: "
                      f"{', '.join(empty[:10])}{' ...' if len(empty) > 10 else ''}", stacklevel=2)
    return RecordTable.of(records, [True] * len(records))


def read_classes_file(path: str) -> list[str]:
    with open(path, encoding="utf-8-sig") as f:
        names = [line.strip() for line in f if line.strip()]
    if len(set(names)) != len(names):
        raise ValueError(f"{path}: duplicate class names")
    return names


_UCF101 = re.compile(r"^(train|test)list0\d\.txt$")
_HMDB51 = re.compile(r"^(train|test)_split([123])$")
_HMDB51_SUBSET = {"train": "1", "test": "2"}


def list_format(source: str) -> str:
    """Which reader ``source`` needs: ``shards`` (a ``gcvideo data shard`` folder), ``folders``,
    ``hmdb51``, ``ucf101``, ``ssv2``, ``kinetics``, ``charades`` or ``path-label``."""
    if os.path.isdir(source):
        return "shards" if os.path.isfile(os.path.join(source, "shards.json")) else "folders"
    folder, name = os.path.split(source)
    match = _HMDB51.match(name)
    if match and not os.path.exists(source) and os.path.isdir(folder or ".") and \
            any(f.endswith(f"_test_split{match.group(2)}.txt") for f in os.listdir(folder or ".")):
        return "hmdb51"
    if _UCF101.match(name) and os.path.isfile(os.path.join(folder, "classInd.txt")):
        return "ucf101"
    if name.lower().endswith(".json"):
        return "ssv2"
    if os.path.isfile(source):
        with open(source, encoding="utf-8-sig", errors="surrogateescape") as f:
            first = f.readline()
        if is_kinetics_header(first):
            return "kinetics"
        if is_charades_header(first):
            return "charades"
    return "path-label"


def read_ucf101_list(list_path: str, root: str) -> RecordTable:
    """UCF101's ``trainlist0N.txt``/``testlist0N.txt`` with ``classInd.txt`` beside it: the class of
    a row is its folder, and a row's index, where given, must name that class."""
    index_path = os.path.join(os.path.dirname(list_path), "classInd.txt")
    names: dict[int, str] = {}
    for lineno, line in list_rows(index_path)[1]:
        parts = line.split()
        if len(parts) != 2 or not parts[0].isdigit():
            raise ValueError(f"{index_path}:{lineno}: expected 'INDEX Class', got {line.strip()!r}")
        names[int(parts[0])] = parts[1]
    listing, table = _Listing(), _Rows(list_path)
    for lineno, line in list_rows(list_path)[1]:
        parts = line.split()
        if not 1 <= len(parts) <= 2 or "/" not in parts[0]:
            raise ValueError(f"{list_path}:{lineno}: expected 'Class/video.avi [INDEX]', got {line.strip()!r}")
        path, label = parts[0], parts[0].split("/")[0]
        if len(parts) == 2:
            if not parts[1].isdigit() or int(parts[1]) not in names:
                raise ValueError(f"{list_path}:{lineno}: class index {parts[1]!r} is not in {index_path}")
            if names[int(parts[1])] != label:
                raise ValueError(f"{list_path}:{lineno}: index {parts[1]} is {names[int(parts[1])]!r} in "
                                 f"{index_path}, but the video is in folder {label!r}")
        full = os.path.join(root, path)
        table.add(lineno, full, label, os.path.splitext(os.path.basename(path))[0], listing.exists(full))
    return table.table()


def read_hmdb51_split(source: str, root: str) -> RecordTable:
    """HMDB51's split ``train_splitN``/``test_splitN`` of the folder of official split files: every
    ``<class>_test_splitN.txt``'s rows marked 1 (train) or 2 (test), the class from the file's name."""
    folder, name = os.path.split(source)
    subset, split = _HMDB51.match(name).groups()
    files = sorted(f for f in os.listdir(folder or ".") if f.endswith(f"_test_split{split}.txt"))
    listing, table = _Listing(), _Rows(source)
    for file in files:
        label, path = file[:-len(f"_test_split{split}.txt")], os.path.join(folder, file)
        for lineno, line in list_rows(path)[1]:
            parts = line.split()
            if len(parts) != 2 or parts[1] not in ("0", "1", "2"):
                raise ValueError(f"{path}:{lineno}: expected 'video.avi 0|1|2', got {line.strip()!r}")
            if parts[1] == _HMDB51_SUBSET[subset]:
                full = os.path.join(root, label, parts[0])
                table.add(len(table.paths) + 1, full, label, os.path.splitext(parts[0])[0], listing.exists(full))
    return table.table()


def ssv2_class(template: str) -> str:
    """A Something-Something v2 template as its class name (``labels.json``'s): brackets removed."""
    return template.replace("[", "").replace("]", "")


def read_ssv2_json(json_path: str, root: str) -> RecordTable:
    """Something-Something v2's ``train.json``/``validation.json`` (``test.json``: no labels); videos
    ``root/<id>.webm`` (another extension beside it is found too)."""
    import json

    try:
        with open(json_path, encoding="utf-8-sig") as f:
            rows = json.load(f)
    except ValueError as err:
        raise ValueError(f"{json_path}: not JSON ({err})") from None
    if not isinstance(rows, list):
        raise ValueError(f"{json_path}: expected a list of videos ({{'id', 'template', ...}}), got {type(rows).__name__}")
    listing = _Listing()
    table = _Rows(json_path)
    for n, row in enumerate(rows, 1):
        if not isinstance(row, dict) or "id" not in row or ("template" not in row and "label" in row):
            raise ValueError(f"{json_path}: video {n}: expected {{'id', 'template', ...}}, got {str(row)[:80]}")
        vid = str(row["id"])                     # SSv2's ids are names; a path below root is read too
        folder, stem = os.path.split(os.path.join(root, vid))
        names = listing.names(folder)
        found = next((stem + ext for ext in VIDEO_EXTENSIONS if stem + ext in names), None)
        table.add(n, os.path.join(folder, found or stem + ".webm"), ssv2_class(str(row.get("template", ""))),
                  os.path.basename(vid), found is not None)
    return table.table()


CHARADES_COLUMNS = ("id", "actions")
_ACTION = re.compile(r"^(c\d{3}) (\d+(?:\.\d*)?) (\d+(?:\.\d*)?)$")


def is_charades_header(line: str) -> bool:
    return set(CHARADES_COLUMNS) <= set(next(csv.reader([line.lstrip("\ufeff")]), []))


def action_spans(label: str) -> list[tuple[str, float, float]]:
    """A multi-label record's actions, ``[(class, start s, end s), ...]`` (Charades' ``actions``:
    ``c092 11.90 21.20;c147 0.00 12.60``; empty: none)."""
    spans = []
    for entry in filter(None, (e.strip() for e in label.split(";"))):
        match = _ACTION.match(" ".join(entry.split()))
        if not match:
            raise ValueError(f"expected 'cNNN START END' actions separated by ';', got {entry!r}")
        spans.append((match.group(1), float(match.group(2)), float(match.group(3))))
    return spans


def label_classes(label: str, multi_label: bool = False) -> list[str]:
    """The classes a record's label names: itself (none when unlabelled), or, multi-label, the
    distinct classes of its actions."""
    if not multi_label:
        return [label] if label else []
    return sorted({name for name, _, _ in action_spans(label)})


def charades_rows(csv_path: str) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """A Charades CSV's columns and its rows as (line number where the row ends, fields); blank
    rows are not rows. ``ValueError`` naming the file (and line) when it is not one."""
    with open(csv_path, newline="", encoding="utf-8-sig", errors="surrogateescape") as f:
        reader = csv.reader(f)
        columns = next(reader, [])
        if not set(CHARADES_COLUMNS) <= set(columns):
            raise ValueError(f"{csv_path}: not a Charades CSV; expected the columns {', '.join(CHARADES_COLUMNS)}, "
                             f"got {columns}")
        rows = []
        for fields in reader:
            if not any(field.strip() for field in fields):
                continue
            if len(fields) != len(columns):
                raise ValueError(f"{csv_path}:{reader.line_num}: expected {len(columns)} columns, got {len(fields)} "
                                 "(a field holding a comma must be quoted)")
            rows.append((reader.line_num, fields))
    return columns, rows


def charades_csv_bytes(source: str, keep: set) -> bytes:
    """``source``'s header and its rows whose line is in ``keep``, as CSV bytes (fields as read)."""
    import io

    columns, rows = charades_rows(source)
    out = io.StringIO(newline="")
    writer = csv.writer(out)
    writer.writerow(columns)
    writer.writerows(fields for line, fields in rows if line in keep)
    return out.getvalue().encode("utf-8", "surrogateescape")


def read_charades_csv(csv_path: str, root: str) -> RecordTable:
    """Charades' ``Charades_v1_train.csv``/``Charades_v1_test.csv``: the ``actions`` of each video
    ``root/<id>.mp4`` (another extension beside it is found too), checked row by row."""
    columns, rows = charades_rows(csv_path)
    listing, table = _Listing(), _Rows(csv_path)
    for lineno, fields in rows:
        row = dict(zip(columns, fields))
        vid = row["id"].strip()
        if not vid:
            raise ValueError(f"{csv_path}:{lineno}: the id is empty")
        try:
            spans = action_spans(row["actions"])
        except ValueError as err:
            raise ValueError(f"{csv_path}:{lineno}: actions: {err}") from None
        backwards = next(((c, a, b) for c, a, b in spans if b < a), None)
        if backwards:
            raise ValueError(f"{csv_path}:{lineno}: action {backwards[0]} ends ({backwards[2]:g} s) before it "
                             f"starts ({backwards[1]:g} s)")
        names = listing.names(root)
        found = next((vid + ext for ext in VIDEO_EXTENSIONS if vid + ext in names), None)
        label = ";".join(f"{c} {a:.2f} {b:.2f}" for c, a, b in spans)
        table.add(lineno, os.path.join(root, found or vid + ".mp4"), label, vid, found is not None)
    return table.table(multi_label=True)


def load_records(source: str, root: Optional[str] = None,
                 classes: Optional[Sequence[str]] = None) -> RecordTable:
    """Records of ``source``: a Kinetics .csv, a path-label .txt list, a class-folder tree, UCF101's
    or HMDB51's split files, Something-Something v2's JSON, Charades' CSV or a folder of shards
    (:func:`list_format`).

    ``root`` is where the videos are (default: the folder holding the list file).
    """
    fmt = list_format(source)
    if fmt == "hmdb51":
        root = root if root is not None else os.path.dirname(os.path.dirname(os.path.abspath(source)))
        records = read_hmdb51_split(source, root)
        if not records:
            raise ValueError(f"{source}: split files hold no videos for it")
        return records
    if fmt == "shards":
        from .shards import read_shards

        records = read_shards(source)
        if not records:
            raise ValueError(f"{source}: the shards hold no videos")
        return records
    if fmt == "folders":
        records = read_class_folders(source)
        if not records:
            loose = [n for n in os.listdir(source) if n.lower().endswith(VIDEO_EXTENSIONS)]
            raise ValueError(f"{source}: no videos in class folders" + (
                f" ({len(loose)} video(s) lie directly in it; expected {source}/<class>/<video>)" if loose else ""))
        return records
    if not os.path.isfile(source):
        raise FileNotFoundError(f"video list not found: {source}")
    root = root if root is not None else os.path.dirname(os.path.abspath(source))
    readers = {"kinetics": read_kinetics_csv, "ucf101": read_ucf101_list, "ssv2": read_ssv2_json,
               "charades": read_charades_csv,
               "path-label": lambda path, where: read_path_label_list(path, where, classes)}
    records = readers[fmt](source, root)
    if not records:
        raise ValueError(f"{source}: the list holds no videos")
    return records


def class_targets(records: RecordTable, class_to_index: dict[str, int]) -> np.ndarray:
    """int64 class index of every record (-1 for an unlabelled one, e.g. the Kinetics test split);
    multi-label: the record's label code (its actions: :class:`ActionTargets`)."""
    if records.multi_label:
        return records.label_codes.astype(np.int64)
    lookup = np.array([class_to_index[n] if n else -1 for n in records.label_names] or [-1], np.int64)
    return lookup[records.label_codes]


class ActionTargets:
    """Multi-hot targets of multi-label records: for each distinct label, its actions' class indices
    and spans; a clip's target holds the classes whose span overlaps its frames' times."""

    def __init__(self, records: RecordTable, class_to_index: dict[str, int]) -> None:
        self.num_classes = len(class_to_index)
        self.codes = records.label_codes
        self.actions = []
        for label in records.label_names:
            spans = action_spans(label)
            self.actions.append((np.array([class_to_index[c] for c, _, _ in spans], np.int64),
                                 np.array([[a, b] for _, a, b in spans], np.float64).reshape(-1, 2)))

    def classes(self, index: int, times: Optional[np.ndarray] = None) -> np.ndarray:
        """The class indices of record ``index``: all of its actions (the video-level label), or those
        overlapping ``[min(times), max(times)]`` seconds."""
        classes, spans = self.actions[self.codes[index]]
        if times is not None and len(times):
            classes = classes[(spans[:, 0] <= np.max(times)) & (spans[:, 1] >= np.min(times))]
        return np.unique(classes)

    def multi_hot(self, classes: Iterable[int]) -> np.ndarray:
        out = np.zeros(self.num_classes, np.float32)
        out[list(classes)] = 1.0
        return out


def sort_class_names(names) -> list[str]:
    """Class names in index order without a classes file: sorted, and by value when every name is
    an integer (so ``0 .. K-1`` labels keep their index, and "10" comes after "9")."""
    names = set(names)
    if names and all(n.lstrip("-").isdigit() for n in names):
        return sorted(names, key=int)
    return sorted(names)


def class_index(records: Sequence[VideoRecord], classes: Optional[Sequence[str]] = None) -> dict[str, int]:
    """name -> index: ``classes`` in their order, else the sorted names seen in ``records``."""
    names = list(classes) if classes is not None else sort_class_names(
        records.class_counts() if isinstance(records, RecordTable) else {r.label for r in records if r.label})
    if not names:
        raise ValueError("no class names: the training list has no labels and no classes file was given")
    return {name: i for i, name in enumerate(names)}
