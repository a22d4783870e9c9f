"""Video lists from the layouts users already have, and the class index mapping.

Three layouts, all resolved to a list of :class:`VideoRecord`:

* Kinetics CSV (``label,youtube_id,time_start,time_end,split``, as distributed for
  Kinetics-400/600/700) + a video root holding ``{youtube_id}_{start:06d}_{end:06d}.mp4``
  (or .webm/.mkv), either in one folder per class or flat;
* "path label" text lists (pytorchvideo/SlowFast): one ``path label`` per line,
  the label an integer index or a class name, paths relative to the root;
* a plain class-folder tree (UCF/HMDB style): ``root/<class>/<video>``.

Class indices are the sorted label names of the train split (or an explicit
classes file, one name per line), saved with every checkpoint.
"""
import csv
import os
import warnings
from dataclasses import dataclass
from typing import Optional, Sequence

VIDEO_EXTENSIONS = (".mp4", ".webm", ".mkv", ".avi", ".mov", ".m4v")
_SPLIT_ALIASES = {"validate": "val", "val": "validate"}


@dataclass(frozen=True)
class VideoRecord:
    path: str                  # where the file should be; it may be missing
    label: str                 # class name ("" when unknown, e.g. the Kinetics test split)
    video_id: str              # youtube id / file stem, used in reports


def kinetics_filename(youtube_id: str, start: float, end: float) -> str:
    return f"{youtube_id}_{int(float(start)):06d}_{int(float(end)):06d}"


def read_kinetics_csv(csv_path: str, root: str) -> list[VideoRecord]:
    """Rows of an official Kinetics CSV, each matched to its file under ``root``.

    The file is looked up as ``root/<label>/<name>.<ext>``, ``root/<name>.<ext>``, then
    the same under a folder named after the row's split (``train/``, ``val/`` or
    ``validate/``); a row without a file keeps the class-folder path so reports can name it.
    """
    records = []
    with open(csv_path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        need = {"label", "youtube_id", "time_start", "time_end"}
        if not reader.fieldnames or not need <= set(reader.fieldnames):
            raise ValueError(f"{csv_path}: not a Kinetics CSV; expected columns "
                             f"label,youtube_id,time_start,time_end[,split], got {reader.fieldnames}")
        for row in reader:
            name = kinetics_filename(row["youtube_id"], row["time_start"], row["time_end"])
            label = row.get("label", "") or ""
            split = row.get("split", "") or ""
            folders = [os.path.join(root, label), root]
            for sub in {split, _SPLIT_ALIASES.get(split, split)} - {""}:
                folders += [os.path.join(root, sub, label), os.path.join(root, sub)]
            candidates = [os.path.join(folder, name + ext) for folder in folders for ext in VIDEO_EXTENSIONS]
            path = next((p for p in candidates if os.path.exists(p)), candidates[0])
            records.append(VideoRecord(path, label, row["youtube_id"]))
    return records


def read_path_label_list(list_path: str, root: str, classes: Optional[Sequence[str]] = None) -> list[VideoRecord]:
    """``path label`` lines (space or comma separated); integer labels index ``classes``."""
    records = []
    with open(list_path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            parts = line.replace(",", " ").rsplit(maxsplit=1)
            if len(parts) != 2:
                raise ValueError(f"{list_path}:{lineno}: expected 'path label', got {line!r}")
            path, label = parts
            if label.lstrip("-").isdigit():
                if classes is None:
                    raise ValueError(f"{list_path}:{lineno}: integer label {label} needs a classes file "
                                     "(one class name per line, in index order)")
                index = int(label)
                if not 0 <= index < len(classes):
                    raise ValueError(f"{list_path}:{lineno}: label {index} out of range for "
                                     f"{len(classes)} classes")
                label = classes[index]
            full = path if os.path.isabs(path) else os.path.join(root, path)
            records.append(VideoRecord(full, label, os.path.splitext(os.path.basename(path))[0]))
    return records


def read_class_folders(root: str) -> list[VideoRecord]:
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
    return records


def read_classes_file(path: str) -> list[str]:
    with open(path, encoding="utf-8") as f:
        names = [line.strip() for line in f if line.strip()]
    if len(set(names)) != len(names):
        raise ValueError(f"{path}: duplicate class names")
    return names


def load_records(source: str, root: Optional[str] = None,
                 classes: Optional[Sequence[str]] = None) -> list[VideoRecord]:
    """Records of ``source``: a Kinetics .csv, a path-label .txt list, or a class-folder tree.

    ``root`` is where the videos are (default: the folder holding the list file).
    """
    if os.path.isdir(source):
        records = read_class_folders(source)
        if not records:
            loose = [n for n in os.listdir(source) if n.lower().endswith(VIDEO_EXTENSIONS)]
            raise ValueError(f"{source}: no videos in class folders" + (
                f" ({len(loose)} video(s) lie directly in it; expected {source}/<class>/<video>)" if loose else ""))
        return records
    if not os.path.isfile(source):
        raise FileNotFoundError(f"video list not found: {source}")
    root = root if root is not None else os.path.dirname(os.path.abspath(source))
    records = None
    if source.lower().endswith(".csv"):
        with open(source, encoding="utf-8") as f:
            header = f.readline()
        if "youtube_id" in header:
            records = read_kinetics_csv(source, root)
    if records is None:
        records = read_path_label_list(source, root, classes)
    if not records:
        raise ValueError(f"{source}: the list holds no videos")
    return records


def class_index(records: Sequence[VideoRecord], classes: Optional[Sequence[str]] = None) -> dict[str, int]:
    """name -> index: ``classes`` in their order, else the sorted names seen in ``records``."""
    names = list(classes) if classes is not None else sorted({r.label for r in records if r.label})
    if not names:
        raise ValueError("no class names: the training list has no labels and no classes file was given")
    return {name: i for i, name in enumerate(names)}
