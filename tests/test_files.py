"""gcvideo.files: outputs checked before any work; nothing written over unless asked, never an input."""
import os

import pytest

from gcvideo.files import check_outputs


def test_an_input_is_never_an_output_whatever_its_spelling(tmp_path):
    data = tmp_path / "best.ckpt"
    data.write_bytes(b"weights")
    (tmp_path / "link.ckpt").symlink_to(data)
    os.link(data, tmp_path / "hard.ckpt")
    for spelling in (data, tmp_path / "link.ckpt", tmp_path / "hard.ckpt", tmp_path / "x" / ".." / "best.ckpt"):
        with pytest.raises(ValueError, match="one of the inputs"):
            check_outputs(str(spelling), inputs=[str(data)], overwrite=True)
    (tmp_path / "run" / "checkpoints").mkdir(parents=True)
    (tmp_path / "run" / "checkpoints" / "last.ckpt").write_bytes(b"w")
    with pytest.raises(ValueError, match="a file of the input"):
        check_outputs(str(tmp_path / "run" / "checkpoints" / "last.ckpt"),
                      inputs=[str(tmp_path / "run" / "checkpoints")], overwrite=True)
    check_outputs(str(tmp_path / "run" / "checkpoints" / "new.html"), inputs=[str(tmp_path / "run" / "checkpoints")])
    assert data.read_bytes() == b"weights"


def test_an_existing_output_needs_overwrite(tmp_path):
    out = tmp_path / "out.ts"
    check_outputs(str(out))                                     # new: fine
    out.write_bytes(b"earlier")
    with pytest.raises(ValueError, match="exists: it is not replaced unless you add --overwrite"):
        check_outputs(str(out))
    check_outputs(str(out), overwrite=True)


def test_places_that_cannot_hold_the_output_are_one_line(tmp_path):
    (tmp_path / "file").write_text("")
    with pytest.raises(ValueError, match="is a file, not a folder"):
        check_outputs(str(tmp_path / "file" / "sub" / "out.html"))
    (tmp_path / "folder").mkdir()
    with pytest.raises(ValueError, match="is a folder"):
        check_outputs(str(tmp_path / "folder"), overwrite=True)
    (tmp_path / "dangling").symlink_to(tmp_path / "nowhere")
    with pytest.raises(ValueError, match="link to nothing"):
        check_outputs(str(tmp_path / "dangling"), overwrite=True)
