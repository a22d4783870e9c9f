import csv
import filecmp
import os

import numpy as np
import pytest

from gcvideo.data.decode import decode_at, probe
from gcvideo.data.sampling import random_clip
from gcvideo.data.synth import COLORS, class_names, render_video, synthesize


def test_layout_and_official_columns(synth_root):
    names = sorted(class_names(4))
    assert sorted(d for d in os.listdir(synth_root) if os.path.isdir(os.path.join(synth_root, d))) == names
    for split, count in [("train", 12), ("val", 4), ("test", 4)]:
        with open(os.path.join(synth_root, f"{split}.csv")) as f:
            rows = list(csv.DictReader(f))
        assert list(rows[0]) == ["label", "youtube_id", "time_start", "time_end", "split"]
        assert len(rows) == count and {r["split"] for r in rows} == {split}
        for r in rows:
            path = os.path.join(synth_root, r["label"], f"{r['youtube_id']}_000000_000002.mp4")
            info = probe(path)
            assert (info.width, info.height, info.fps) == (64, 48, 30.0) and len(r["youtube_id"]) == 11


def test_deterministic_for_a_seed(tmp_path):
    kw = dict(num_classes=2, videos_per_class=3, seconds=0.5, size=(32, 32), progress=False)
    synthesize(str(tmp_path / "a"), seed=5, **kw)
    synthesize(str(tmp_path / "b"), seed=5, **kw)
    synthesize(str(tmp_path / "c"), seed=6, **kw)
    files = sorted(os.path.relpath(os.path.join(d, f), tmp_path / "a")
                   for d, _, fs in os.walk(tmp_path / "a") for f in fs)
    assert files == sorted(os.path.relpath(os.path.join(d, f), tmp_path / "b")
                           for d, _, fs in os.walk(tmp_path / "b") for f in fs)
    assert all(filecmp.cmp(tmp_path / "a" / f, tmp_path / "b" / f, shallow=False) for f in files)
    videos_c = {f for _, _, fs in os.walk(tmp_path / "c") for f in fs if f.endswith(".mp4")}
    assert videos_c and not videos_c & {os.path.basename(f) for f in files}   # other seed, other videos


def test_too_many_classes_is_an_error():
    assert len(class_names(120)) == 120
    with pytest.raises(ValueError, match="at most 120"):
        class_names(121)


# --- the classes live only in the temporal order ---------------------------------------

def lit_features(frames: np.ndarray, discs: str) -> np.ndarray:
    """Per frame, for each disc colour, the fraction of pixels showing it lit: (T, m)."""
    feats = []
    for key in discs:
        lit = np.minimum(255, np.array(COLORS[key]) * 1.15 + 20)
        feats.append((np.abs(frames.astype(float) - lit).sum(-1) < 60).mean(axis=(1, 2)))
    return np.stack(feats, 1)


def transitions(f: np.ndarray) -> np.ndarray:
    return np.einsum("ti,tj->ij", f[:-1], f[1:]).ravel()


def nearest_centroid_accuracy(train, test):
    labels = sorted({y for _, y in train})
    centroids = np.stack([np.mean([x for x, y in train if y == c], 0) for c in labels])
    hits = [labels[int(np.argmin(((centroids - x) ** 2).sum(1)))] == y for x, y in test]
    return float(np.mean(hits))


def test_one_frame_or_shuffled_frames_cannot_tell_the_classes_apart(synth_root):
    rng = np.random.default_rng(0)
    discs = class_names(4)[0].removeprefix("cycle_")
    sets = {"ordered": ([], []), "shuffled": ([], []), "one frame": ([], [])}
    for split, clips in [("train", 6), ("val", 12), ("test", 12)]:
        with open(os.path.join(synth_root, f"{split}.csv")) as f:
            for row in csv.DictReader(f):
                path = os.path.join(synth_root, row["label"], f"{row['youtube_id']}_000000_000002.mp4")
                info = probe(path)
                for _ in range(clips):   # the demo's clip: 8 frames, every 2nd frame at 30 fps
                    f_t = lit_features(decode_at(path, random_clip(info.duration, info.fps, 8, 2, rng)), discs)
                    which = 0 if split == "train" else 1
                    sets["ordered"][which].append((transitions(f_t), row["label"]))
                    sets["shuffled"][which].append((transitions(rng.permutation(f_t)), row["label"]))
                    sets["one frame"][which].append((f_t[0], row["label"]))
    acc = {k: nearest_centroid_accuracy(*v) for k, v in sets.items()}
    assert acc["ordered"] > 0.9, acc          # the order of events carries the class
    assert acc["shuffled"] < 0.5, acc         # chance is 0.25
    assert acc["one frame"] < 0.5, acc


def test_render_is_one_lit_disc_per_frame():
    frames = render_video("cycle_rgby", np.random.default_rng(0), 24, (64, 48), event_frames=3)
    lit = lit_features(frames, "rgby")
    assert ((lit > 0.005).sum(1) == 1).all()
    order = [int(i) for i in lit.argmax(1)[::3]]
    assert all((b - a) % 4 == 1 for a, b in zip(order, order[1:]))   # r -> g -> b -> y -> r


def test_data_folder_matches_the_demo_generator():
    from gcvideo.tools.demo_data import DEMO_DATA

    root = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "data")
    assert open(os.path.join(root, "demo_classes.txt")).read().split() == class_names(DEMO_DATA["num_classes"])
    script = open(os.path.join(root, "make_demo_data.sh")).read()
    size = "x".join(map(str, DEMO_DATA["size"]))
    for flag in ("--task order", f"--classes {DEMO_DATA['num_classes']}", f"--videos-per-class {DEMO_DATA['videos_per_class']}",
                 f"--size {size}", f"--event-frames {DEMO_DATA['event_frames']}", f"--seed {DEMO_DATA['seed']}"):
        assert flag in script, flag


def test_synth_never_writes_into_a_dataset_or_another_synth(tmp_path, capsys):
    """A folder holding a dataset keeps its lists; a folder of another synth is refused; the
    same synth again is allowed (it writes the same files)."""
    from gcvideo.cli import main

    data = tmp_path / "data"
    data.mkdir()
    (data / "train.csv").write_text("label,youtube_id,time_start,time_end,split\n" + "a,x,0,10,train\n" * 600)
    before = (data / "train.csv").read_text()
    args = ["--videos-per-class", "3", "--frames", "8", "--cue-frames", "2", "--size", "16x16"]
    assert main(["data", "synth", str(data), *args]) == 2
    assert "not a data synth output" in capsys.readouterr().err
    assert (data / "train.csv").read_text() == before and sorted(os.listdir(data)) == ["train.csv"]

    fresh = tmp_path / "fresh"
    assert main(["data", "synth", str(fresh), *args]) == 0
    lists = {n: (fresh / n).read_text() for n in ("train.csv", "val.csv", "test.csv")}
    assert main(["data", "synth", str(fresh), *args]) == 0                       # the same synth again
    assert {n: (fresh / n).read_text() for n in lists} == lists
    assert main(["data", "synth", str(fresh), *args[:-2], "--size", "32x32"]) == 2
    assert "size [16, 16] there, [32, 32] asked" in capsys.readouterr().err
    assert {n: (fresh / n).read_text() for n in lists} == lists


@pytest.mark.parametrize("size", ["33x17", "100000x100000", "8x8", "32"])
def test_synth_sizes_that_cannot_be_encoded_are_one_line(tmp_path, capsys, size):
    from gcvideo.cli import main

    assert main(["data", "synth", str(tmp_path / "out"), "--size", size]) == 2
    assert "--size" in capsys.readouterr().err and not os.path.exists(tmp_path / "out")
