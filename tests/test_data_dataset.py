import pytest
import torch

from gcvideo.data.dataset import BadVideos, EpochSampler, VideoClipDataset
from gcvideo.data.records import VideoRecord

CLIP = dict(num_frames=4, sampling_rate=4, train_short_side=(48, 56), crop_size=32, eval_short_side=48)


def make(bad_videos, kinds, mode, **kw):
    records = [VideoRecord(bad_videos[k], "good" if k == "good" else "other", k) for k in kinds]
    return VideoClipDataset(records, {"good": 0, "other": 1}, mode, **{**CLIP, **kw})


BAD_KINDS = ["zero_byte", "truncated", "not_video", "audio_only", "too_short", "missing"]


def test_training_replaces_bad_videos_and_counts_them(bad_videos, caplog):
    data = make(bad_videos, ["good"] + BAD_KINDS, "train")
    for i in range(len(data)):
        sample = data[i]
        assert sample["ok"] and sample["video"].shape == (3, 4, 32, 32) and sample["video"].dtype == torch.uint8
        assert torch.isfinite(sample["video"]).all()
        if i == 0:
            assert sample["replaced"] == 0 and sample["index"] == 0
        else:
            assert sample["replaced"] >= 1 and sample["index"] == 0 and sample["label"] == 0
    logged = caplog.text
    for kind in BAD_KINDS:
        assert bad_videos[kind] in logged


def test_training_gives_up_with_a_clear_error(bad_videos):
    # (the truncated file is left out: its readable first 1.5 s can give a valid clip)
    data = make(bad_videos, [k for k in BAD_KINDS if k != "truncated"], "train", max_retries=3)
    with pytest.raises(BadVideos, match=r"4 videos in a row failed.*check.scan finds them"):
        data[0]


def test_evaluation_reports_every_bad_video(bad_videos):
    data = make(bad_videos, ["good", "vfr", "odd_size", "gray", "webm"] + BAD_KINDS, "val")
    samples = [data[i] for i in range(len(data))]
    assert [s["ok"] for s in samples] == [True] * 5 + [False] * len(BAD_KINDS)
    reasons = {data.records[s["index"]].video_id: s["reason"] for s in samples if not s["ok"]}
    assert reasons["missing"] == "missing" and reasons["zero_byte"] == "empty file"
    assert reasons["too_short"].startswith("too short") and reasons["audio_only"].startswith("no video stream")
    assert reasons["truncated"].startswith(("truncated", "unreadable"))
    assert all(s["video"].shape == (3, 4, 32, 32) for s in samples)


def test_randomness_depends_on_seed_epoch_and_index_only(bad_videos):
    data = make(bad_videos, ["good", "webm"], "train")
    n = len(data)
    assert torch.equal(data[1]["video"], data[1]["video"])
    assert not torch.equal(data[1]["video"], data[1 + n]["video"])          # next epoch
    other = make(bad_videos, ["good", "webm"], "train", seed=1)
    assert not torch.equal(data[1]["video"], other[1]["video"])
    val = make(bad_videos, ["good"], "val")
    assert torch.equal(val[0]["video"], val[0 + 5]["video"])                 # eval is not random


def test_epoch_sampler_splits_and_pads():
    s = EpochSampler(7, shuffle=True, seed=0)
    first = list(s)
    s.set_epoch(1)
    second = list(s)
    assert sorted(first) == list(range(7)) and sorted(k - 7 for k in second) == list(range(7))
    assert first != [k - 7 for k in second]
    train = [EpochSampler(7, True, 0, pad=True, num_replicas=2, rank=r).indices() for r in range(2)]
    assert len(train[0]) == len(train[1]) == 4 and set(train[0] + train[1]) == set(range(7))
    evals = [EpochSampler(7, False, pad=False, num_replicas=2, rank=r) for r in range(2)]
    assert sorted(evals[0].indices() + evals[1].indices()) == list(range(7))   # each once
    assert [len(e) for e in evals] == [4, 3]


@pytest.mark.parametrize("mode", ["train", "val"])
def test_a_clip_opens_its_file_once(bad_videos, monkeypatch, mode):
    """Probing and decoding a clip share one open container."""
    import av

    from gcvideo.data.multiview import decode_views

    opened = []
    real = av.open
    monkeypatch.setattr(av, "open", lambda *a, **k: opened.append(a[0]) or real(*a, **k))
    data = make(bad_videos, ["good", "vfr"], mode)
    assert data[0]["ok"] and data[1]["ok"]
    assert opened == [bad_videos["good"], bad_videos["vfr"]]
    decode_views(bad_videos["good"], num_frames=4, sampling_rate=4, clips=3, crops=3, short_side=48, crop=32)
    assert opened[2:] == [bad_videos["good"]]


def test_repeated_augmentation_gives_k_clips_of_one_decoding(bad_videos, monkeypatch):
    """K clips per video: each its own window, crop, flip (drawn from seed, epoch, video, k), the
    same pixels as decoding each clip on its own, from one decoding pass; bad videos are replaced
    as with one clip."""
    import numpy as np

    from gcvideo.data import decode

    data = make(bad_videos, ["good", "missing"], "train", clips_per_video=3, train_short_side=(40, 64))
    calls = []
    real = decode.decode_clip
    monkeypatch.setattr(decode, "decode_clip", lambda *a, **k: calls.append(1) or real(*a, **k))
    sample = data[0]
    assert sample["video"].shape == (3, 3, 4, 32, 32) and len(calls) == 1
    clips = sample["video"]
    assert not torch.equal(clips[0], clips[1]) and not torch.equal(clips[1], clips[2])
    for k in range(3):        # clip k is what a one-clip draw from (seed, epoch, video, k) decodes
        assert torch.equal(clips[k], data.load_clip(0, np.random.default_rng([0, 0, 0, k])))
    assert torch.equal(data[0]["video"], clips)                                # reproducible
    replaced = data[1]                                                          # the missing video
    assert replaced["replaced"] >= 1 and replaced["video"].shape == (3, 3, 4, 32, 32)
    assert make(bad_videos, ["good"], "val", clips_per_video=3)[0]["video"].shape == (3, 4, 32, 32)
    one = make(bad_videos, ["good"], "train")
    assert torch.equal(one[0]["video"], one.load_clip(0, np.random.default_rng([0, 0, 0])))   # K = 1: as before
