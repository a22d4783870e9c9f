import pytest

from gcvideo.engine.datamodule import KineticsDataModule

OPTS = dict(num_frames=4, sampling_rate=2, train_short_side=(48, 56), crop_size=32, eval_short_side=48)


def test_tiny_datamodule_iterates_with_two_workers(synth_root):
    dm = KineticsDataModule(synth_root, batch_size=4, num_workers=2, **OPTS)
    assert dm.num_classes == 4 and dm.classes == sorted(dm.classes)
    batches = list(dm.train_dataloader())
    assert len(batches) == 3                                           # 12 videos / 4
    for batch in batches:
        assert batch["video"].shape == (4, 3, 4, 32, 32)
        assert batch["label"].min() >= 0 and batch["label"].max() < 4
    seen = sorted(i for b in batches for i in b["index"].tolist())
    assert seen == list(range(12))
    val = [i for b in dm.val_dataloader() for i in b["index"].tolist()]
    assert sorted(val) == list(range(4))


def test_classes_travel_with_checkpoints(synth_root):
    dm = KineticsDataModule(synth_root, num_workers=0, **OPTS)
    state = dm.state_dict()
    KineticsDataModule(synth_root, num_workers=0, **OPTS).load_state_dict(state)
    with pytest.raises(ValueError, match="differ"):
        dm.load_state_dict({"classes": list(reversed(state["classes"]))})


def test_bad_paths_name_the_option(synth_root, tmp_path):
    with pytest.raises(FileNotFoundError, match="data.root"):
        KineticsDataModule(str(tmp_path / "nowhere"))
    with pytest.raises(FileNotFoundError, match="data.train"):
        KineticsDataModule(synth_root, train="nope.csv")
    with pytest.raises(ValueError, match="data.backend: unknown video backend"):
        KineticsDataModule(synth_root, backend="opencv", num_workers=0)
    with pytest.raises(ValueError, match="data.num_frames must be a whole number from 1"):
        KineticsDataModule(synth_root, num_frames=0)


def test_a_label_that_is_no_class_is_refused_before_decoding(synth_root, tmp_path):
    """A label that names no class is one line before any decoding, not an error inside a worker."""
    import csv
    import os

    rows = list(csv.DictReader(open(os.path.join(synth_root, "test.csv"))))
    rows[0]["label"] = rows[1]["label"] = "zebra crossing"
    bad = tmp_path / "test.csv"
    with open(bad, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    dm = KineticsDataModule(synth_root, test=str(bad), num_workers=0, **OPTS)
    for make in (dm.multiview_dataset, dm.dataset):
        with pytest.raises(ValueError, match=r"data.test .*test.csv\): 2 video\(s\) have labels that are not "
                                             r"among the 4 classes: 'zebra crossing' \(2\)"):
            make("test")


def test_workers_freeze_what_they_inherit(synth_root):
    """Workers freeze what they inherit, so a full garbage collection in a worker writes to none of it
    (else it copies the parent's pages: 130 MB per worker for a 240k index, benchmarks/worker_memory.py)."""
    import gc

    from torch.utils.data import DataLoader

    dm = KineticsDataModule(synth_root, batch_size=4, num_workers=2, **OPTS)
    for loader in (dm.train_dataloader(), dm.val_dataloader()):
        probe = DataLoader(list(range(4)), batch_size=None, num_workers=2, worker_init_fn=loader.worker_init_fn,
                           collate_fn=lambda _: gc.get_freeze_count())
        assert min(probe) > 1000
    assert gc.get_freeze_count() == 0                    # the training process itself is left alone


def test_resuming_on_another_copy_of_the_data_warns(synth_root, tmp_path):
    """The checkpoint knows which copy of the data trained it; another copy is named on resume."""
    import shutil
    import warnings

    root = tmp_path / "copy"
    shutil.copytree(synth_root, root)
    state = KineticsDataModule(str(root), num_workers=0, **OPTS).state_dict()
    assert set(state["fingerprints"]) == {"train", "val"}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        KineticsDataModule(str(root), num_workers=0, **OPTS).load_state_dict(state)        # same copy: silent
    video = next(p for p in sorted(root.rglob("*.mp4")) if p.stem.split("_")[0] in (root / "train.csv").read_text())
    video.unlink()
    with pytest.warns(UserWarning, match=r"data.train is not the copy this checkpoint was trained on: 12 rows, "
                                         r"12 present, .* 12 rows, 11 present"):
        KineticsDataModule(str(root), num_workers=0, **OPTS).load_state_dict(state)
