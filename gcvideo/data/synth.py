"""Generated Kinetics-format videos: three tasks, no download.

``task="relation"`` (``synthesize_relation``, the demo's task): classes are a relation
between two cues far apart in space AND time - two bright discs in opposite quarters of
the frame, one shown only at the start of the video, the other only at its end - with
label ``same_colour`` or ``different_colour``. Every frame shows at most one cue, so no
frame and no unit whose receptive field holds one cue can tell the classes apart: a
network must combine evidence from both ends of the clip (global context). Each cue's
box per frame is written to ``cues.json`` (for ``gcvideo analyze lift``).

``task="order"`` (``synthesize``): classes differ only in temporal order.

Every video shows one bright disc drifting slowly across a random static texture,
among static dim discs of every colour (distractors). The bright disc changes
colour every ``event_frames`` frames in a fixed cyclic order; the class is that
order (``cycle_rgby`` = red, green, blue, yellow, red, ...), starting at a random
phase. Any single frame shows one bright colour at a random place, and the set of
frames of a video is the same whatever the order, so neither one frame nor
shuffled frames carry the class: only the order of the frames does. ``m`` colours
give (m-1)! classes (4 colours: 6 classes).

``task="direction"`` (``synthesize_direction``): classes name a direction of motion,
``moving_left_to_right`` or ``moving_right_to_left``: one bright disc crosses the frame
horizontally over a random static texture. A horizontally flipped clip shows the other class, so
it is the test of flip handling (``data.flip``, ``data.flip_label_map``): ``flip_label_map.json``
beside the lists holds the pair.

``task="actions"`` (``synthesize_actions``): Charades' format, multi-label with time spans. Each
video holds one to three "actions" of different classes; action ``c00K`` is a bright disc of the
K-th colour that is in the frame only during its span (over a random static texture with dim discs
of every colour). Files: flat ``<id>.mp4``, ``Charades_v1_train.csv`` / ``Charades_v1_test.csv``
(and ``Charades_v1_val.csv``, a held-out part of the train split) with Charades' columns,
``actions`` = ``c001 0.40 1.20;c003 0.90 2.00``, and ``Charades_v1_classes.txt``.

Files are real H.264 MP4s (libx264 via PyAV) named ``{youtube_id}_{start:06d}_{end:06d}.mp4``
in one folder per class, with ``train.csv``/``val.csv``/``test.csv`` in the official
Kinetics columns and ``classes.txt``. Output is deterministic for a seed.

Choose ``event_frames`` >= the clip's sampling rate so a clip sees every colour.
"""
import csv
import functools
import itertools
import json
import math
import os
import string
from typing import Optional

import numpy as np

from .parallel import parallel_map
from .records import kinetics_filename

COLORS = {"r": (220, 40, 40), "g": (40, 200, 60), "b": (50, 80, 230),
          "y": (230, 210, 40), "m": (210, 50, 210), "c": (40, 210, 210)}
SPLITS = ("train", "val", "test")


def class_names(num_classes: int) -> list[str]:
    """The first ``num_classes`` cyclic orders of the fewest discs that give enough."""
    for m in range(3, len(COLORS) + 1):
        if math.factorial(m - 1) >= num_classes:
            letters = list(COLORS)[:m]
            # cyclic orders = permutations that start with the first disc
            orders = ["cycle_" + letters[0] + "".join(p) for p in itertools.permutations(letters[1:])]
            return orders[:num_classes]
    raise ValueError(f"at most {math.factorial(len(COLORS) - 1)} classes can be generated, asked for {num_classes}")


def render_video(order: str, rng: np.random.Generator, frames: int, size: tuple[int, int],
                 event_frames: int) -> np.ndarray:
    """(frames, H, W, 3) uint8 frames of one video of class ``order`` (e.g. 'cycle_rgby')."""
    width, height = size
    colours = order.removeprefix("cycle_")
    radius = max(2, min(width, height) // 10)
    texture = rng.integers(60, 110, size=(height // 4 + 1, width // 4 + 1, 3))
    background = np.kron(texture, np.ones((4, 4, 1)))[:height, :width].astype(np.float32)
    centres = _separated_points(rng, len(colours) + 1, width, height, radius)
    yy, xx = np.mgrid[:height, :width]
    for (cx, cy), key in zip(centres[1:], colours):          # static dim distractors
        background[(xx - cx) ** 2 + (yy - cy) ** 2 <= radius ** 2] = np.array(COLORS[key]) * 0.45
    side = min(width, height)
    lo = np.array([(width - side) / 2, (height - side) / 2]) + 1.5 * radius
    hi = lo + side - 3 * radius
    pos = np.array(centres[0], np.float64)
    angle = rng.uniform(0, 2 * np.pi)
    velocity = 0.4 * np.array([np.cos(angle), np.sin(angle)])   # pixels per frame
    phase = int(rng.integers(len(colours) * event_frames))
    video = np.empty((frames, height, width, 3), np.uint8)
    for t in range(frames):
        key = colours[((t + phase) // event_frames) % len(colours)]
        frame = background.copy()
        frame[(xx - pos[0]) ** 2 + (yy - pos[1]) ** 2 <= (1.4 * radius) ** 2] = \
            np.minimum(255, np.array(COLORS[key], np.float32) * 1.15 + 20)
        video[t] = frame.clip(0, 255).astype(np.uint8)
        pos += velocity
        for d in range(2):                                       # bounce inside the central square
            if not lo[d] <= pos[d] <= hi[d]:
                velocity[d] = -velocity[d]
                pos[d] = np.clip(pos[d], lo[d], hi[d])
    return video


def _separated_points(rng, n, width, height, radius) -> list[tuple[int, int]]:
    """Far-apart disc centres inside the central square, so square crops keep every disc."""
    margin = int(1.5 * radius) + 1
    side = min(width, height)
    x0, y0 = (width - side) // 2, (height - side) // 2
    best: list[tuple[int, int]] = []
    for _ in range(200):  # rejection sampling; keep the best try
        pts = [(x0 + int(rng.integers(margin, side - margin)), y0 + int(rng.integers(margin, side - margin)))
               for _ in range(n)]
        gap = min((math.dist(a, b) for a, b in itertools.combinations(pts, 2)), default=1e9)
        if not best or gap > min(math.dist(a, b) for a, b in itertools.combinations(best, 2)):
            best = pts
        if gap >= 3.5 * radius:
            break
    return best


def write_video(path: str, frames: np.ndarray, fps: int = 30, codec: str = "libx264",
                pix_fmt: str = "yuv420p", options: Optional[dict[str, str]] = None,
                container_options: Optional[dict[str, str]] = None) -> None:
    """Encode (T, H, W, 3) uint8 RGB frames at a constant ``fps``.

    libx264 runs single-threaded and without macroblock-tree rate control: with mbtree on,
    the same frames gave different bytes in 1-10 % of videos when several processes
    encoded at once (measured; identical input YUV), so a seed would not fix the dataset."""
    import av

    height, width = frames.shape[1:3]
    with av.open(path, "w", options=container_options or {}) as container:
        stream = container.add_stream(codec, rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, pix_fmt
        if codec == "libx264":
            stream.options = {"crf": "20", "preset": "veryfast", "threads": "1", "x264-params": "mbtree=0",
                              **(options or {})}
            stream.codec_context.thread_count = 1
        for frame in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


RELATION_CLASSES = ("different_colour", "same_colour")


def render_relation(same: bool, rng: np.random.Generator, frames: int = 16, size: tuple[int, int] = (32, 32),
                    colours: int = 2, cue_frames: int = 4, distractors: int = 2) -> tuple[np.ndarray, list[dict]]:
    """(frames, H, W, 3) uint8 frames of one relation video, and its cues
    ``[{"frames": [t, ...], "box": [x0, y0, x1, y1], "colour": key}, ...]`` (pixels, inclusive).

    Cue A is lit during the first ``cue_frames`` frames in one quarter of the frame, cue B
    during the last ``cue_frames`` in the opposite quarter; both bright and of radius
    ~H/4; ``distractors`` dim static discs of the same colours sit anywhere.
    """
    width, height = size
    keys = list(COLORS)[:colours]
    texture = rng.integers(60, 110, size=(height // 4 + 1, width // 4 + 1, 3))
    background = np.kron(texture, np.ones((4, 4, 1)))[:height, :width].astype(np.float32)
    yy, xx = np.mgrid[:height, :width]
    radius = max(2, min(width, height) // 4)
    for _ in range(distractors):
        cx, cy = rng.uniform(radius, width - radius), rng.uniform(radius, height - radius)
        background[(xx - cx) ** 2 + (yy - cy) ** 2 <= (0.6 * radius) ** 2] = \
            np.array(COLORS[keys[int(rng.integers(colours))]]) * 0.45
    a = int(rng.integers(colours))
    b = a if same else (a + int(rng.integers(1, colours))) % colours
    # A in one quarter, B in the diagonally opposite one (random diagonal and direction)
    qx, qy = int(rng.integers(2)), int(rng.integers(2))
    cues = []
    for key, (fx, fy), times in ((keys[a], (qx, qy), range(cue_frames)),
                                 (keys[b], (1 - qx, 1 - qy), range(frames - cue_frames, frames))):
        cx = (fx + rng.uniform(0.3, 0.7)) * width / 2
        cy = (fy + rng.uniform(0.3, 0.7)) * height / 2
        cues.append({"colour": key, "frames": list(times), "centre": (cx, cy),
                     "box": [max(0, int(cx - radius)), max(0, int(cy - radius)),
                             min(width - 1, int(math.ceil(cx + radius))), min(height - 1, int(math.ceil(cy + radius)))]})
    video = np.repeat(background[None], frames, axis=0)
    for cue in cues:
        cx, cy = cue.pop("centre")
        disc = (xx - cx) ** 2 + (yy - cy) ** 2 <= radius ** 2
        for t in cue["frames"]:
            video[t][disc] = np.minimum(255, np.array(COLORS[cue["colour"]], np.float32) * 1.15 + 20)
    return video.clip(0, 255).astype(np.uint8), cues


DIRECTION_CLASSES = ("moving_left_to_right", "moving_right_to_left")


def render_direction(left_to_right: bool, rng: np.random.Generator, frames: int = 32,
                     size: tuple[int, int] = (64, 48)) -> np.ndarray:
    """(frames, H, W, 3) uint8: a bright disc of a random colour crossing a static texture from
    near one side to near the other at a random height, at constant speed."""
    width, height = size
    texture = rng.integers(60, 110, size=(height // 4 + 1, width // 4 + 1, 3))
    background = np.kron(texture, np.ones((4, 4, 1)))[:height, :width].astype(np.float32)
    yy, xx = np.mgrid[:height, :width]
    radius = max(2, min(width, height) // 6)
    start, end = rng.uniform(radius, 0.3 * width), rng.uniform(0.7 * width, width - radius)
    if not left_to_right:
        start, end = width - start, width - end
    cy = rng.uniform(radius, height - radius)
    colour = np.minimum(255, np.array(COLORS[list(COLORS)[int(rng.integers(len(COLORS)))]], np.float32) * 1.15 + 20)
    video = np.repeat(background[None], frames, axis=0)
    for t in range(frames):
        cx = start + (end - start) * t / max(frames - 1, 1)
        video[t][(xx - cx) ** 2 + (yy - cy) ** 2 <= radius ** 2] = colour
    return video.clip(0, 255).astype(np.uint8)


def synthesize_direction(out: str, videos_per_class: int = 20, frames: int = 32, fps: int = 30,
                         size: tuple[int, int] = (64, 48), seed: int = 0, progress: bool = True,
                         workers: Optional[int] = None) -> dict[str, list[dict]]:
    """Write the direction dataset under ``out`` (see the module docstring) and its
    ``flip_label_map.json``; returns the CSV rows per split."""
    if videos_per_class < 3:
        raise ValueError("videos_per_class must be >= 3 (train, val and test each need one)")
    claim_output(out, "direction", videos_per_class=videos_per_class, frames=frames, fps=fps, size=tuple(size),
                 seed=seed)
    render = functools.partial(_render_direction, frames=frames, size=tuple(size))
    rows = _write_dataset(out, list(DIRECTION_CLASSES), videos_per_class, frames / fps, fps, seed, render,
                          progress, workers)[0]
    with open(os.path.join(out, "flip_label_map.json"), "w", encoding="utf-8") as f:
        json.dump({DIRECTION_CLASSES[0]: DIRECTION_CLASSES[1]}, f)
    write_other_layouts(out, rows, list(DIRECTION_CLASSES))
    return rows


SSV2_TEMPLATES = {DIRECTION_CLASSES[0]: "Moving [something] from left to right",
                  DIRECTION_CLASSES[1]: "Moving [something] from right to left"}


def write_other_layouts(out: str, rows: dict[str, list[dict]], names: list[str]) -> None:
    """The same videos and splits in the other datasets' own files, beside the Kinetics lists:
    UCF101's ``ucfTrainTestlist/`` (``classInd.txt``, ``trainlist01.txt`` with 1-based indices,
    ``testlist01.txt`` without), HMDB51's ``testTrainMulti_7030_splits/<class>_test_split1.txt``
    (1 train, 2 test, 0 the val videos) and Something-Something v2's ``train.json`` /
    ``validation.json`` (``id`` = the video's path below OUT without extension; ``template`` names
    the class, ``SSV2_TEMPLATES`` where the task has one)."""
    def video(row: dict) -> str:
        return f"{row['label']}/{kinetics_filename(row['youtube_id'], row['time_start'], row['time_end'])}.mp4"

    ucf, hmdb = os.path.join(out, "ucfTrainTestlist"), os.path.join(out, "testTrainMulti_7030_splits")
    os.makedirs(ucf, exist_ok=True)
    os.makedirs(hmdb, exist_ok=True)
    index = {name: i for i, name in enumerate(names, 1)}
    with open(os.path.join(ucf, "classInd.txt"), "w", encoding="utf-8") as f:
        f.writelines(f"{i} {name}\n" for name, i in index.items())
    with open(os.path.join(ucf, "trainlist01.txt"), "w", encoding="utf-8") as f:
        f.writelines(f"{video(r)} {index[r['label']]}\n" for r in rows["train"])
    with open(os.path.join(ucf, "testlist01.txt"), "w", encoding="utf-8") as f:
        f.writelines(f"{video(r)}\n" for r in rows["test"])
    marks = {"train": 1, "test": 2, "val": 0}
    for name in names:
        with open(os.path.join(hmdb, f"{name}_test_split1.txt"), "w", encoding="utf-8") as f:
            f.writelines(f"{os.path.basename(video(r))} {marks[split]}\n" for split in SPLITS for r in rows[split]
                         if r["label"] == name)
    for split, file in (("train", "train.json"), ("val", "validation.json")):
        entries = [{"id": os.path.splitext(video(r))[0], "label": r["label"].replace("_", " "),
                    "template": SSV2_TEMPLATES.get(r["label"], r["label"]), "placeholders": ["a disc"]}
                   for r in rows[split]]
        with open(os.path.join(out, file), "w", encoding="utf-8") as f:
            json.dump(entries, f)


def _render_direction(label: str, rng: np.random.Generator, **options) -> tuple[np.ndarray, None]:
    return render_direction(label == DIRECTION_CLASSES[0], rng, **options), None


RECORD = "synth.json"


def claim_output(out: str, task: str, **options) -> None:
    """Before any video is written: ``out`` is new, empty, or an earlier synth of exactly these
    options (its ``synth.json``; the same files again), else ``ValueError`` naming what differs.
    A folder holding anything else (a dataset) is never written into."""
    from ..files import check_folder_possible, write_atomic

    record = json.loads(json.dumps({"task": task, **options}))          # tuples as lists, as read back
    path = os.path.join(out, RECORD)
    check_folder_possible(out, f"data synth {out}")
    if os.path.isdir(out) and os.listdir(out):
        try:
            with open(path, encoding="utf-8") as f:
                earlier = json.load(f)
        except (OSError, ValueError):
            earlier = None
        if not isinstance(earlier, dict):
            names = sorted(os.listdir(out))
            raise ValueError(f"{out} is not empty ({len(names)} entries: {', '.join(names[:4])}"
                             f"{', ...' if len(names) > 4 else ''}) and is not a data synth output: nothing "
                             "is written into it; choose a new or empty folder")
        changed = [f"{k} {earlier.get(k)!r} there, {v!r} asked" for k, v in record.items() if earlier.get(k) != v]
        if changed:
            raise ValueError(f"{out} holds a data synth of other options ({'; '.join(changed)}): its lists would "
                             "no longer match its videos; choose a new or empty folder")
    os.makedirs(out, exist_ok=True)
    write_atomic(path, json.dumps(record, indent=1).encode())


def synthesize_relation(out: str, videos_per_class: int = 500, frames: int = 16, fps: int = 30,
                        size: tuple[int, int] = (32, 32), colours: int = 2, cue_frames: int = 4,
                        seed: int = 0, progress: bool = True, workers: Optional[int] = None) -> dict[str, list[dict]]:
    """Write the relation dataset under ``out`` (see the module docstring); returns the CSV
    rows per split. Choose ``frames`` = clip length x sampling rate (the demo: 8 x 2 = 16)
    so a clip spans the whole video and holds both cues; ``cue_frames`` >= 2 x sampling
    rate so each cue is in two of the clip's frames."""
    if not 2 <= colours <= len(COLORS):
        raise ValueError(f"colours must be 2..{len(COLORS)}, got {colours}")
    if not 1 <= cue_frames <= frames // 2 - 1:
        raise ValueError(f"cue_frames must be 1..{frames // 2 - 1} for {frames} frames (the cues must not meet)")
    if videos_per_class < 3:
        raise ValueError("videos_per_class must be >= 3 (train, val and test each need one)")
    claim_output(out, "relation", videos_per_class=videos_per_class, frames=frames, fps=fps, size=tuple(size),
                 colours=colours, cue_frames=cue_frames, seed=seed)
    render = functools.partial(_render_relation, frames=frames, size=tuple(size), colours=colours,
                               cue_frames=cue_frames)
    rows, cues = _write_dataset(out, list(RELATION_CLASSES), videos_per_class, frames / fps, fps, seed, render,
                                progress, workers)
    with open(os.path.join(out, "cues.json"), "w", encoding="utf-8") as f:
        json.dump({"size": list(size), "frames": frames, "fps": fps, "videos": cues}, f)
    return rows


def _render_relation(label: str, rng: np.random.Generator, **options) -> tuple[np.ndarray, list[dict]]:
    return render_relation(label == "same_colour", rng, **options)


def _render_order(label: str, rng: np.random.Generator, **options) -> tuple[np.ndarray, None]:
    return render_video(label, rng, **options), None


def _youtube_id(rng: np.random.Generator) -> str:
    alphabet = string.ascii_letters + string.digits + "-_"
    return "".join(alphabet[i] for i in rng.integers(len(alphabet), size=11))


def split_counts(videos_per_class: int) -> dict[str, int]:
    held = max(1, round(0.2 * videos_per_class)) if videos_per_class >= 3 else 0
    return {"train": videos_per_class - 2 * held, "val": held, "test": held}


def synthesize(out: str, num_classes: int = 6, videos_per_class: int = 20, seconds: float = 2.0,
               fps: int = 30, size: tuple[int, int] = (96, 72), event_frames: int = 6, seed: int = 0,
               progress: bool = True, workers: Optional[int] = None) -> dict[str, list[dict]]:
    """Write the temporal-order dataset under ``out``; returns the CSV rows per split."""
    if videos_per_class < 3:
        raise ValueError("videos_per_class must be >= 3 (train, val and test each need one)")
    claim_output(out, "order", num_classes=num_classes, videos_per_class=videos_per_class, seconds=seconds,
                 fps=fps, size=tuple(size), event_frames=event_frames, seed=seed)
    render = functools.partial(_render_order, frames=int(round(seconds * fps)), size=tuple(size),
                               event_frames=event_frames)
    return _write_dataset(out, class_names(num_classes), videos_per_class, seconds, fps, seed, render,
                          progress, workers)[0]


def _write_one(job: tuple) -> object:
    """Render and encode one video (runs in a worker process); returns the renderer's extra."""
    render, path, label, seed, n, fps = job
    rng = np.random.default_rng([seed, n])
    _youtube_id(rng)                      # the file name's draws come first (see _write_dataset)
    frames, extra = render(label, rng)
    write_video(path, frames, fps)
    return extra


def _write_dataset(out: str, names: list[str], videos_per_class: int, seconds: float, fps: int, seed: int,
                   render, progress: bool = True, workers: Optional[int] = None) -> tuple[dict[str, list[dict]], dict]:
    """Videos ``render(label, rng) -> (frames, extra)`` in class folders, train/val/test.csv in
    the official Kinetics columns, classes.txt. Returns the rows per split and each video's
    extra by its path under ``out``. Every video draws from its own ``default_rng([seed, n])``,
    so the output depends only on the seed and its index, not on how many processes
    (``workers``; default: one per CPU core, at most 8, for 64 videos or more) write it or in which order."""
    if videos_per_class < 3:
        raise ValueError("videos_per_class must be >= 3 (train, val and test each need one)")
    os.makedirs(out, exist_ok=True)
    counts = split_counts(videos_per_class)
    rows: dict[str, list[dict]] = {s: [] for s in SPLITS}
    end = int(math.ceil(seconds))
    jobs, paths = [], []
    for n, (label, split) in enumerate((c, s) for c in names for s in SPLITS for _ in range(counts[s])):
        vid = _youtube_id(np.random.default_rng([seed, n]))
        os.makedirs(os.path.join(out, label), exist_ok=True)
        paths.append(os.path.join(out, label, kinetics_filename(vid, 0, end) + ".mp4"))
        jobs.append((render, paths[-1], label, seed, n, fps))
        rows[split].append({"label": label, "youtube_id": vid, "time_start": 0, "time_end": end, "split": split})
    if workers is None:                   # processes pay off only for more than a few dozen videos
        workers = 1 if len(jobs) < 64 else min(8, os.cpu_count() or 1)
    extras = parallel_map(_write_one, jobs, workers, "synth videos", progress, chunksize=8, start_method="spawn")
    for split in SPLITS:
        with open(os.path.join(out, f"{split}.csv"), "w", newline="", encoding="utf-8") as f:
            writer = csv.DictWriter(f, fieldnames=["label", "youtube_id", "time_start", "time_end", "split"])
            writer.writeheader()
            writer.writerows(rows[split])
    with open(os.path.join(out, "classes.txt"), "w", encoding="utf-8") as f:
        f.write("\n".join(names) + "\n")
    return rows, {os.path.relpath(p, out): e for p, e in zip(paths, extras)}


CHARADES_COLUMNS = ("id", "subject", "scene", "quality", "relevance", "verified", "script", "objects",
                    "descriptions", "actions", "length")


def draw_actions(rng: np.random.Generator, classes: int, seconds: float) -> list[tuple[str, float, float]]:
    """One to three actions of distinct classes, each lasting 30-60 % of the video, anywhere in it."""
    count = int(rng.integers(1, min(3, classes) + 1))
    spans = []
    for k in sorted(rng.choice(classes, size=count, replace=False)):
        length = rng.uniform(0.3, 0.6) * seconds
        start = rng.uniform(0, seconds - length)
        spans.append((f"c{int(k):03d}", round(start, 2), round(start + length, 2)))
    return spans


def render_actions(actions: str, rng: np.random.Generator, frames: int, fps: int,
                   size: tuple[int, int]) -> np.ndarray:
    """(frames, H, W, 3) uint8: each action's bright disc (the colour of its class) drifting during
    its span only, inside the frame's centre square, over a static texture with a dim disc of every
    class's colour."""
    from .records import action_spans

    width, height = size
    radius = max(3, min(width, height) // 4)
    texture = rng.integers(60, 110, size=(height // 4 + 1, width // 4 + 1, 3))
    background = np.kron(texture, np.ones((4, 4, 1)))[:height, :width].astype(np.float32)
    yy, xx = np.mgrid[:height, :width]
    colours = list(COLORS.values())
    for (cx, cy), dim in zip(_separated_points(rng, len(colours), width, height, radius), colours):
        background[(xx - cx) ** 2 + (yy - cy) ** 2 <= radius ** 2] = np.array(dim) * 0.35
    video = np.repeat(background[None], frames, axis=0)
    for name, start, end in action_spans(actions):
        colour = np.minimum(255, np.array(colours[int(name[1:])], np.float32) * 1.15 + 20)
        side = min(width, height)        # in the centre square: any training crop holds it
        x0 = rng.uniform((width - side) / 2 + radius, (width + side) / 2 - radius)
        y0 = rng.uniform((height - side) / 2 + radius, (height + side) / 2 - radius)
        dx, dy = rng.uniform(-0.3, 0.3, size=2) * radius
        for t in range(int(np.ceil(start * fps)), min(frames, int(np.floor(end * fps)) + 1)):
            cx = np.clip(x0 + dx * (t / fps - start), radius, width - radius)
            cy = np.clip(y0 + dy * (t / fps - start), radius, height - radius)
            video[t][(xx - cx) ** 2 + (yy - cy) ** 2 <= radius ** 2] = colour
    return video.clip(0, 255).astype(np.uint8)


def _render_actions(label: str, rng: np.random.Generator, **options) -> tuple[np.ndarray, None]:
    return render_actions(label, rng, **options), None


def synthesize_actions(out: str, videos_per_class: int = 20, classes: int = 4, frames: int = 64, fps: int = 30,
                       size: tuple[int, int] = (64, 48), seed: int = 0, progress: bool = True,
                       workers: Optional[int] = None) -> dict[str, list[dict]]:
    """Write the multi-label actions dataset in Charades' format under ``out`` (see the module
    docstring); ``videos_per_class`` x ``classes`` videos, 60/20/20 % train/val/test. Returns the
    CSV rows per split."""
    if not 2 <= classes <= len(COLORS):
        raise ValueError(f"classes must be 2..{len(COLORS)} (one colour each), got {classes}")
    if videos_per_class < 3:
        raise ValueError("videos_per_class must be >= 3 (train, val and test each need one)")
    claim_output(out, "actions", videos_per_class=videos_per_class, classes=classes, frames=frames, fps=fps,
                 size=tuple(size), seed=seed)
    seconds = frames / fps
    counts = {split: n * classes for split, n in split_counts(videos_per_class).items()}
    rows: dict[str, list[dict]] = {s: [] for s in SPLITS}
    jobs = []
    render = functools.partial(_render_actions, frames=frames, fps=fps, size=tuple(size))
    for n, split in enumerate(s for s in SPLITS for _ in range(counts[s])):
        letters = np.random.default_rng([seed, n]).choice(list(string.ascii_uppercase + string.digits), 5)
        vid = "".join(letters) + f"{n:04d}"                       # Charades-like ids, unique
        actions = ";".join(f"{c} {a:.2f} {b:.2f}" for c, a, b in draw_actions(
            np.random.default_rng([seed, n, 1]), classes, seconds))
        jobs.append((render, os.path.join(out, vid + ".mp4"), actions, seed, n, fps))
        rows[split].append({"id": vid, "subject": "SYNTH", "scene": "Generated", "quality": 7, "relevance": 7,
                            "verified": "Yes", "script": "", "objects": "disc", "descriptions": "",
                            "actions": actions, "length": f"{seconds:.2f}"})
    os.makedirs(out, exist_ok=True)
    if workers is None:
        workers = 1 if len(jobs) < 64 else min(8, os.cpu_count() or 1)
    parallel_map(_write_one, jobs, workers, "synth videos", progress, chunksize=8, start_method="spawn")
    for split in SPLITS:
        with open(os.path.join(out, f"Charades_v1_{split}.csv"), "w", newline="", encoding="utf-8") as f:
            writer = csv.DictWriter(f, fieldnames=list(CHARADES_COLUMNS))
            writer.writeheader()
            writer.writerows(rows[split])
    names = list(COLORS)
    with open(os.path.join(out, "Charades_v1_classes.txt"), "w", encoding="utf-8") as f:
        f.writelines(f"c{k:03d} {ACTION_NAMES[names[k]]} disc\n" for k in range(classes))
    return rows


ACTION_NAMES = {"r": "red", "g": "green", "b": "blue", "y": "yellow", "m": "magenta", "c": "cyan"}
