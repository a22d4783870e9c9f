import os

import numpy as np
import pytest

from gcvideo.data.records import class_index, load_records, read_classes_file


def touch(path):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    open(path, "wb").close()
    return path


def test_kinetics_csv_class_folders_flat_and_missing(tmp_path):
    (tmp_path / "train.csv").write_text(
        "label,youtube_id,time_start,time_end,split\n"
        "abseiling,---QUuC4vJs,3,13,train\n"
        "air drumming,--nQbRBEz2s,104,114,train\n"
        "abseiling,--33Lscn6sk,4,14,train\n")
    a = touch(str(tmp_path / "abseiling" / "---QUuC4vJs_000003_000013.mp4"))
    b = touch(str(tmp_path / "--nQbRBEz2s_000104_000114.webm"))         # flat, webm
    records = load_records(str(tmp_path / "train.csv"))
    assert [r.path for r in records[:2]] == [a, b]
    assert [r.label for r in records] == ["abseiling", "air drumming", "abseiling"]
    assert records[2].path == str(tmp_path / "abseiling" / "--33Lscn6sk_000004_000014.mp4")   # missing
    assert not os.path.exists(records[2].path)
    assert class_index(records) == {"abseiling": 0, "air drumming": 1}


def test_kinetics_csv_with_split_folders(tmp_path):
    (tmp_path / "validate.csv").write_text("label,youtube_id,time_start,time_end,split\n"
                                           "abseiling,abc,0,10,validate\n")
    path = touch(str(tmp_path / "val" / "abseiling" / "abc_000000_000010.mp4"))
    assert load_records(str(tmp_path / "validate.csv"))[0].path == path


def test_path_label_lists(tmp_path):
    (tmp_path / "classes.txt").write_text("jump\nrun\n")
    (tmp_path / "list.txt").write_text("videos/a.mp4 1\n# comment\n\n/abs/b.mp4 0\n")
    classes = read_classes_file(str(tmp_path / "classes.txt"))
    records = load_records(str(tmp_path / "list.txt"), classes=classes)
    assert [(r.path, r.label) for r in records] == [(str(tmp_path / "videos/a.mp4"), "run"), ("/abs/b.mp4", "jump")]
    (tmp_path / "named.txt").write_text("x.mp4 run\n")
    assert load_records(str(tmp_path / "named.txt"))[0].label == "run"
    # without a classes file an integer label is the class's name
    assert [r.label for r in load_records(str(tmp_path / "list.txt"))] == ["1", "0"]
    (tmp_path / "bad.txt").write_text("x.mp4 7\n")
    with pytest.raises(ValueError, match="bad.txt:1: label 7 out of range"):
        load_records(str(tmp_path / "bad.txt"), classes=classes)


def test_class_folder_tree(tmp_path):
    touch(str(tmp_path / "b_class" / "v1.avi"))
    touch(str(tmp_path / "a_class" / "v2.mp4"))
    touch(str(tmp_path / "a_class" / "notes.txt"))
    records = load_records(str(tmp_path))
    assert [(r.label, r.video_id) for r in records] == [("a_class", "v2"), ("b_class", "v1")]


def test_explicit_class_order_and_errors(tmp_path):
    assert class_index([], ["z", "a"]) == {"z": 0, "a": 1}
    with pytest.raises(FileNotFoundError, match="nope.csv"):
        load_records(str(tmp_path / "nope.csv"))
    (tmp_path / "wrong.txt").write_text("a.mp4 0\njustonefield\n")
    with pytest.raises(ValueError, match="wrong.txt:2: expected 'path label'"):
        load_records(str(tmp_path / "wrong.txt"), classes=["x"])


def test_nothing_to_read_is_an_error_or_warning_that_names_it(tmp_path, capsys):
    """Empty lists, a flat folder of videos and empty class folders are never
    silently '0/0 ok' or a changed class count."""
    import warnings

    from gcvideo.cli import main
    from gcvideo.data.records import load_records

    (tmp_path / "empty.txt").write_text("# nothing yet\n")
    (tmp_path / "empty.csv").write_text("label,youtube_id,time_start,time_end,split\n")
    for name in ("empty.txt", "empty.csv"):
        with pytest.raises(ValueError, match=f"{name}: the list holds no videos"):
            load_records(str(tmp_path / name))
    flat = tmp_path / "flat"
    flat.mkdir()
    (flat / "a.mp4").write_bytes(b"")
    with pytest.raises(ValueError, match=r"1 video\(s\) lie directly in it"):
        load_records(str(flat))
    tree = tmp_path / "tree"
    (tree / "alpha").mkdir(parents=True)
    (tree / "beta").mkdir()
    (tree / "alpha" / "a.mp4").write_bytes(b"")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert [r.label for r in load_records(str(tree))] == ["alpha"]
    assert any("beta" in str(w.message) and "hold no videos" in str(w.message) for w in caught)
    assert main(["data", "check", str(tmp_path / "empty.txt")]) == 2
    assert "empty.txt: the list holds no videos" in capsys.readouterr().err


@pytest.mark.parametrize("line, expected", [
    ("a.mp4 run", ("a.mp4", "run")),
    ("a.mp4,run", ("a.mp4", "run")),
    ("a.mp4, run\n", ("a.mp4", "run")),
    ("dir/clip, 0.mp4 beta", ("dir/clip, 0.mp4", "beta")),             # a comma inside the path
    ("/d/playing guitar/v 1.MP4 playing guitar", ("/d/playing guitar/v 1.MP4", "playing guitar")),
    ("/d/a.mp4 x/b.webm\tlabel one", ("/d/a.mp4 x/b.webm", "label one")),
    ('"dir/a, b.mp4",beta', ("dir/a, b.mp4", "beta")),
    ("frames/clip_001\tbrush hair", ("frames/clip_001", "brush hair")),
    ("frames/clip_001 3", ("frames/clip_001", "3")),
    ("justonefield", None),
    ('"only one field"', None),
])
def test_list_grammar(line, expected):
    from gcvideo.data.records import split_path_label

    assert split_path_label(line) == expected


def test_byte_order_marks_are_ignored_everywhere(tmp_path):
    """A byte order mark neither hides a Kinetics CSV's header nor the first video of a text list."""
    bom = "\ufeff"
    (tmp_path / "k.csv").write_text(bom + "label,youtube_id,time_start,time_end,split\nrun,abc,0,10,train\n",
                                    encoding="utf-8")
    video = touch(str(tmp_path / "run" / "abc_000000_000010.mp4"))
    assert [r.path for r in load_records(str(tmp_path / "k.csv"))] == [video]
    (tmp_path / "l.txt").write_text(bom + "run/abc_000000_000010.mp4 0\n", encoding="utf-8")
    (tmp_path / "classes.txt").write_text(bom + "run\njump\n", encoding="utf-8")
    classes = read_classes_file(str(tmp_path / "classes.txt"))
    assert classes == ["run", "jump"]
    assert [(r.path, r.label) for r in load_records(str(tmp_path / "l.txt"), classes=classes)] == [(video, "run")]


def test_unreadable_kinetics_rows_name_file_and_line(tmp_path):
    header = "label,youtube_id,time_start,time_end,split\n"
    (tmp_path / "comma.csv").write_text(header + "run,a,0,10,train\nrock, paper, scissors,b,0,10,train\n")
    with pytest.raises(ValueError, match=r"comma.csv:3: expected 5 columns .*quote a label"):
        load_records(str(tmp_path / "comma.csv"))
    (tmp_path / "time.csv").write_text("label,youtube_id,time_start,time_end\nrun,a,zero,10\n")
    with pytest.raises(ValueError, match=r"time.csv:2: time_start and time_end must be numbers, got 'zero'"):
        load_records(str(tmp_path / "time.csv"))
    (tmp_path / "quoted.csv").write_text(header + '"rock, paper, scissors",b,0,10,train\n')
    assert load_records(str(tmp_path / "quoted.csv"))[0].label == "rock, paper, scissors"


def test_record_table_is_the_records_in_numpy_arrays():
    import pickle

    import numpy as np

    from gcvideo.data.records import RecordTable, VideoRecord

    odd = "/d/caf\udce9.mp4"                      # a file name that is not UTF-8 (surrogate-escaped)
    records = [VideoRecord("/d/a b.mp4", "run", "a b"), VideoRecord(odd, "", "caf"), VideoRecord("/x.mp4", "jump", "x")]
    table = RecordTable.of(records)
    assert list(table) == records and table[-1] == records[-1] and table[1:] == records[1:]
    assert table.label_names == ("", "jump", "run") and table.label(2) == "jump" and table.path(1) == odd
    assert isinstance(table._paths.buffer, np.ndarray) and table.present.tolist() == [False, False, False]
    assert list(pickle.loads(pickle.dumps(table))) == records
    with pytest.raises(IndexError):
        table[3]


def test_a_kinetics_csv_is_indexed_by_listing_each_folder_once(tmp_path, monkeypatch):
    """Each folder is listed once, not each of a row's candidate paths stat'ed (24 per row: 8.4 s for 240k rows)."""
    import os as os_module

    lines = ["label,youtube_id,time_start,time_end,split\n"]
    expected = []
    for i in range(300):
        label = f"class {i % 3}"
        lines.append(f"{label},v{i},0,10,train\n")
        if i % 10:
            where = (tmp_path / label) if i % 3 else (tmp_path / "train")   # class folders and a split folder
            expected.append(touch(str(where / f"v{i}_000000_000010.{'mp4' if i % 4 else 'webm'}")))
    (tmp_path / "big.csv").write_text("".join(lines))
    calls = {"stat": 0, "listdir": 0}
    real_stat, real_listdir = os_module.stat, os_module.listdir
    monkeypatch.setattr(os_module, "stat", lambda *a, **k: calls.__setitem__("stat", calls["stat"] + 1) or real_stat(*a, **k))
    monkeypatch.setattr(os_module, "listdir", lambda *a, **k: calls.__setitem__("listdir", calls["listdir"] + 1)
                        or real_listdir(*a, **k))
    records = load_records(str(tmp_path / "big.csv"))
    monkeypatch.undo()
    assert [records.path(i) for i in np.flatnonzero(records.present)] == expected
    assert int(records.present.sum()) == 270 and not os.path.exists(records.path(0))
    # 3 classes x (root/label, root/train/label) + root + root/train, whatever the number of rows
    assert calls["listdir"] <= 8 and calls["stat"] <= 3, calls


def test_a_video_listed_twice_is_one_video_or_an_error_naming_both_lines(tmp_path):
    """The same path with two labels is an error naming both lines; the same row twice is one
    video (one warning); both for path-label lists and Kinetics CSVs."""
    (tmp_path / "a.mp4").write_bytes(b"")
    (tmp_path / "b.mp4").write_bytes(b"")
    listing = tmp_path / "list.txt"
    listing.write_text("a.mp4 x\nb.mp4 y\n./a.mp4 y\n")
    with pytest.raises(ValueError, match=r"list.txt:3: .*a.mp4 is listed again with label 'y'; line 1 gives it 'x'"):
        load_records(str(listing))
    listing.write_text("a.mp4 x\nb.mp4 y\n\na.mp4 x\n")
    with pytest.warns(UserWarning, match="1 row\\(s\\) repeat an earlier row \\(e.g. line 4 = line 1\\)"):
        records = load_records(str(listing))
    assert [r.label for r in records] == ["x", "y"] and list(records.lines) == [1, 2]
    csv_path = tmp_path / "k.csv"
    csv_path.write_text("label,youtube_id,time_start,time_end,split\nx,a,0,10,train\ny,a,0,10,train\n")
    (tmp_path / "a_000000_000010.mp4").write_bytes(b"")           # flat layout: both rows name one file
    with pytest.raises(ValueError, match="k.csv:3: .* is listed again with label 'y'; line 2 gives it 'x'"):
        load_records(str(csv_path))
