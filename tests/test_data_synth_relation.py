"""The relation task: its cues, its sidecar boxes, byte-identical output, and proof that
evidence added up per cue (what a network without global context can do) cannot solve it."""
import csv
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from gcvideo.cli import main
from gcvideo.data.decode import decode_at, probe
from gcvideo.data.sampling import random_clip, uniform_clips
from gcvideo.data.synth import COLORS, RELATION_CLASSES, render_relation, synthesize_relation


def lit(frames: np.ndarray, key: str) -> np.ndarray:
    """(T, H, W) mask of pixels showing colour ``key`` lit (cue brightness)."""
    colour = np.minimum(255, np.array(COLORS[key]) * 1.15 + 20)
    return np.abs(frames.astype(float) - colour).sum(-1) < 60


@pytest.mark.parametrize("same", [True, False])
def test_cues_sit_far_apart_in_space_and_time_and_their_boxes_are_exact(same):
    for seed in range(20):
        frames, cues = render_relation(same, np.random.default_rng(seed), 16, (32, 32), colours=3)
        a, b = cues
        assert (a["colour"] == b["colour"]) == same
        assert a["frames"] == [0, 1, 2, 3] and b["frames"] == [12, 13, 14, 15]
        for cue in cues:
            mask = lit(frames, cue["colour"])
            x0, y0, x1, y1 = cue["box"]
            for t in range(16):
                inside = mask[t, y0:y1 + 1, x0:x1 + 1].sum()
                if t in cue["frames"]:
                    assert inside > 60 and inside == mask[t].sum() - (lit(frames, cue["colour"])[t].sum() - inside)
                elif not (same and t in (b if cue is a else a)["frames"]):
                    assert inside == 0                       # lit only in its own frames
        ca = ((a["box"][0] + a["box"][2]) / 2, (a["box"][1] + a["box"][3]) / 2)
        cb = ((b["box"][0] + b["box"][2]) / 2, (b["box"][1] + b["box"][3]) / 2)
        assert abs(ca[0] - cb[0]) >= 6 and abs(ca[1] - cb[1]) >= 6   # opposite quarters
        lit_any = sum(lit(frames, k) for k in list(COLORS)[:3]).reshape(16, -1).any(1)
        assert not lit_any[4:12].any()               # no frame in between shows a cue


@pytest.fixture(scope="module")
def relation_root(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("relation"))
    synthesize_relation(root, videos_per_class=10, progress=False)
    return root


def test_layout_sidecar_and_every_clip_holds_both_cues(relation_root):
    assert open(os.path.join(relation_root, "classes.txt")).read().split() == list(RELATION_CLASSES)
    sidecar = json.load(open(os.path.join(relation_root, "cues.json")))
    rng = np.random.default_rng(0)
    rows = [r for s in ("train", "val", "test") for r in csv.DictReader(open(os.path.join(relation_root, f"{s}.csv")))]
    assert len(rows) == 20 and len(sidecar["videos"]) == 20
    for row in rows:
        rel = f"{row['label']}/{row['youtube_id']}_000000_000001.mp4"
        path = os.path.join(relation_root, rel)
        info = probe(path)
        cues = sidecar["videos"][rel]
        # the demo's clips (8 frames at stride 2): random training starts and the 10 test clips
        for times in [random_clip(info.duration, info.fps, 8, 2, rng) for _ in range(3)] + \
                uniform_clips(info.duration, info.fps, 8, 2, 10):
            frames = decode_at(path, times)
            a, b = (lit(frames, c["colour"]) for c in cues)
            assert a[:2].sum(axis=(1, 2)).min() > 40 and b[6:].sum(axis=(1, 2)).min() > 40   # both cues, decoded
            assert (row["label"] == "same_colour") == (cues[0]["colour"] == cues[1]["colour"])


def test_evidence_added_up_per_cue_learns_nothing_and_the_relation_is_perfect():
    """A network without global context ends in global average pooling + a linear head over
    units that each see at most one cue: its logit is a SUM f(first cue) + g(second cue).
    Trained with cross-entropy (as the networks are), such a model learns nothing here -
    every cue colour is as often 'same' as 'different' - while one product term (what GC's
    nonlinear transform of the pooled context can form) separates the classes perfectly."""
    rng = np.random.default_rng(0)
    keys = list(COLORS)[:3]
    pairs, labels = [], []
    for n in range(600):
        same = bool(n % 2)
        _, cues = render_relation(same, rng, 16, (32, 32), colours=3)
        pairs.append([np.eye(3)[keys.index(c["colour"])] for c in cues])
        labels.append(float(same))
    y = np.array(labels)
    additive = np.array([np.concatenate([a, b, [1.0]]) for a, b in pairs])              # f(a) + g(b) + bias
    relation = np.array([np.concatenate([a, b, np.outer(a, b).ravel(), [1.0]]) for a, b in pairs])

    def logistic_regression(x, steps=3000, lr=0.5):
        w = np.zeros(x.shape[1])
        for _ in range(steps):
            p = 1 / (1 + np.exp(-x @ w))
            w -= lr * x.T @ (p - y) / len(y)
        return 1 / (1 + np.exp(-x @ w))

    p_add, p_rel = logistic_regression(additive), logistic_regression(relation)
    assert np.abs(p_add - 0.5).max() < 0.1                  # no cue colour carries the label
    assert ((p_add > 0.5) == (y > 0.5)).mean() < 0.6
    assert ((p_rel > 0.5) == (y > 0.5)).mean() == 1.0


def test_one_frame_tells_nothing(relation_root):
    """Every frame shows at most one cue: its colour is independent of the label."""
    counts = {label: np.zeros(2) for label in RELATION_CLASSES}
    sidecar = json.load(open(os.path.join(relation_root, "cues.json")))["videos"]
    for rel, cues in sidecar.items():
        label = rel.split("/")[0]
        for cue in cues:
            counts[label][list(COLORS).index(cue["colour"])] += 1
        lit_frames = [t for c in cues for t in c["frames"]]
        assert len(lit_frames) == len(set(lit_frames))        # never two cues in one frame
    # the colour of one cue is uninformative: both classes use both colours
    assert all(c.min() > 0 for c in counts.values())


GENERATE = """
import hashlib, json, os, sys
from gcvideo.data.synth import synthesize_relation, synthesize
out, workers = sys.argv[1], int(sys.argv[2])
synthesize_relation(os.path.join(out, "relation"), videos_per_class=12, progress=False, workers=workers)
synthesize(os.path.join(out, "order"), num_classes=3, videos_per_class=4, seconds=1.0, size=(64, 48), progress=False,
           workers=workers)
digests = {}
for folder, _, files in os.walk(out):
    for name in files:
        path = os.path.join(folder, name)
        digests[os.path.relpath(path, out)] = hashlib.sha256(open(path, "rb").read()).hexdigest()
print(json.dumps(digests))
"""


def test_same_seed_gives_byte_identical_files_in_concurrent_processes(tmp_path):
    # three processes at once on 2 cores, one writing serially and two with worker pools: with
    # libx264's mbtree rate control on, 1-10 % of such videos differed (write_video turns it off)
    procs = [subprocess.Popen([sys.executable, "-c", GENERATE, str(tmp_path / name), workers],
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
             for name, workers in (("a", "1"), ("b", "2"), ("c", "2"))]
    digests = [json.loads(p.communicate(timeout=300)[0]) for p in procs]
    assert len(digests[0]) == (24 + 4 + 1 + 1) + (12 + 4 + 1)  # videos, csv + classes files, cues.json, synth.json
    assert digests[0] == digests[1] == digests[2]


def test_cli_writes_the_relation_task(tmp_path, capsys):
    assert main(["data", "synth", str(tmp_path / "r"), "--videos-per-class", "5", "--colours", "3"]) == 0
    assert "relation task" in capsys.readouterr().out
    assert os.path.exists(tmp_path / "r" / "cues.json")
    assert main(["data", "synth", str(tmp_path / "x"), "--cue-frames", "9"]) == 2     # cues would meet


def test_attention_on_regions_counts_mass_area_and_lift():
    import torch

    from gcvideo.models.attention import attention_on_regions
    from gcvideo.tools.analyze import cue_cover

    cues = [{"frames": [0, 1], "box": [0, 0, 7, 7]}, {"frames": [6, 7], "box": [8, 8, 15, 15]}]
    cover = cue_cover(cues, list(range(8)), (16, 16), (0, 0, 16, 16), 16)      # (8, 16, 16)
    assert cover.shape == (8, 16, 16) and float(cover.mean()) == 0.25 * 4 / 8
    uniform = torch.full((8, 4, 4), 1 / 128)
    assert attention_on_regions(uniform, cover) == {"mass": 0.125, "area": 0.125, "lift": 1.0}
    focused = torch.zeros(8, 4, 4)
    focused[0, 0, 0] = focused[7, 3, 3] = 0.5                                  # all on the cues
    stats = attention_on_regions(focused, cover)
    assert stats["mass"] == 1.0 and stats["lift"] == 8.0


def test_lift_needs_the_sidecar(tmp_path, relation_root):
    import torch

    from gcvideo import create_model
    from gcvideo.tools.analyze import measure_lift

    class Module:
        model = create_model("slow_r50_gc", num_classes=2, depths=(1, 1, 1, 1), width=4)

    from gcvideo.data.spec import InputSpec

    options = InputSpec.from_options(dict(num_frames=8, sampling_rate=2, target_fps=30.0, backend="pyav",
                                          test_crop_size=32, crop_size=32, train_short_side=[32, 32]))
    torch.manual_seed(0)
    result = measure_lift(Module(), options, relation_root, limit=4)
    assert result["videos"] == 4 and len(result["blocks"]) == 3                 # c3, c4, c5 GC blocks
    assert all(0 < s["area"] < 1 and s["lift"] > 0 for s in result["blocks"].values())
    with pytest.raises(FileNotFoundError, match="cues.json"):
        measure_lift(Module(), options, str(tmp_path), limit=4)
    # another dataset's cues.json: one line naming the video it lacks
    import json
    import shutil

    other = tmp_path / "other"
    shutil.copytree(relation_root, other)
    (other / "cues.json").write_text(json.dumps({**json.load(open(other / "cues.json")), "videos": {}}))
    with pytest.raises(ValueError, match="has no cue boxes for .*test.csv"):
        measure_lift(Module(), options, str(other), limit=4)
