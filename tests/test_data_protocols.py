"""gcvideo.data.protocols: the frames and crops a peer's test loader takes, checked against the
peer's own functions (PySlowFast 1.0, installed by `make test` without its dependencies: its
decoder and transform modules need only torch and numpy, loaded here without its package __init__)."""
import importlib.util
import os

import av
import numpy as np
import pytest
import torch

from gcvideo.data import protocols
from gcvideo.data.decode import probe
from gcvideo.data.multiview import decode_views
from gcvideo.data.synth import write_video
from videos import frame_index, ramp_frames


def peer_module(name: str):
    """``slowfast.datasets.<name>`` from the installed PySlowFast, without its package __init__
    (which imports its AVA code and detectron2)."""
    found = importlib.util.find_spec("slowfast")
    if found is None:
        pytest.skip("PySlowFast is not installed (make test installs it)")
    path = os.path.join(found.submodule_search_locations[0], "datasets", f"{name}.py")
    spec = importlib.util.spec_from_file_location(f"pyslowfast_{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def pyslowfast_clip(path: str, clip: int, clips: int = 10, frames: int = 8, rate: int = 8) -> list[int]:
    """The frame indices PySlowFast's own test decode takes (read back from the ramp's pixels)."""
    decoder = peer_module("decoder")
    taken = decoder.decode(av.open(path), rate, frames, clip_idx=clip, num_clips=clips, target_fps=30)
    return [frame_index(f) for f in taken.numpy()]


@pytest.mark.parametrize("fps, count", [(25, 250), (30, 240), (24, 200)])
def test_pyslowfast_clips_are_the_frames_its_own_decoder_takes(tmp_path, fps, count):
    """Every one of the 10 test clips, on videos at 25, 30 and 24 fps: the indices computed, and the
    frames gcvideo decodes under the protocol, are PySlowFast's."""
    path = str(tmp_path / f"ramp{fps}.mp4")
    write_video(path, ramp_frames(count, 48, 64), fps=fps)
    info = probe(path)
    computed = protocols.pyslowfast_frame_indices(info.num_frames, info.fps, info.pts_per_frame, 8, 8, 10)
    decoded = decode_views(path, 8, 8, clips=10, crops=1, short_side=48, crop=48, protocol="pyslowfast")["frames"]
    for k in range(10):
        theirs = pyslowfast_clip(path, k)
        assert list(computed[k]) == theirs, (k, list(computed[k]), theirs)
        assert [frame_index(f.permute(1, 2, 0).numpy()) for f in decoded[k]] == theirs, k


def test_the_protocols_differ_where_the_issue_measured_them(tmp_path):
    """On a 10 s 25 fps video PySlowFast's last clip starts 25 frames before gcvideo's and its
    8 frames are 9 apart (linspace over the 64-frame window at 30 fps = 53.3 source frames)."""
    path = str(tmp_path / "ramp25.mp4")
    write_video(path, ramp_frames(250, 48, 64), fps=25)
    ours = decode_views(path, 8, 8, clips=10, crops=1, short_side=48, crop=48)["frames"]
    theirs = decode_views(path, 8, 8, clips=10, crops=1, short_side=48, crop=48, protocol="pyslowfast")["frames"]
    first = lambda clip: [frame_index(f.permute(1, 2, 0).numpy()) for f in clip]  # noqa: E731
    assert first(ours[9])[0] - first(theirs[9])[0] >= 20
    assert np.diff(first(theirs[0])).max() > np.diff(first(ours[0])).max()


@pytest.mark.parametrize("height, width", [(256, 340), (288, 352), (360, 640), (480, 360), (301, 451), (256, 256)])
def test_pyslowfast_scaling_and_crops_are_its_own(height, width):
    """The frame size after scaling the short side to 256 and the (top, left) of crops 0, 1, 2:
    PySlowFast's random_short_side_scale_jitter (min = max = 256) and uniform_crop on a frame whose
    pixels hold their own coordinates."""
    transform = peer_module("transform")
    size = 256
    frames = torch.zeros(1, 1, height, width)
    scaled, _ = transform.random_short_side_scale_jitter(frames, size, size)
    h, w = scaled.shape[2:]
    assert protocols.scaled_size("pyslowfast", height, width, size) == (h, w)
    coords = torch.arange(h * w, dtype=torch.float64).reshape(1, 1, h, w)
    boxes = protocols.crop_boxes("pyslowfast", h, w, size, 3)
    for j, box in enumerate(boxes):
        cropped, _ = transform.uniform_crop(coords, size, j)
        assert divmod(int(cropped[0, 0, 0, 0]), w) == box[:2] and box[2:] == (size, size), (j, box)
    # gcvideo's own rounding differs on some sizes (the issue's 1 px): round vs floor, round vs ceil
    if (height, width) == (288, 352):
        assert protocols.scaled_size("gcvideo", height, width, size) != (h, w)


def test_a_protocol_is_checked_with_its_views():
    from gcvideo.data.spec import InputSpec

    with pytest.raises(ValueError, match="data.protocol must be one of gcvideo, pyslowfast"):
        InputSpec.from_options({"protocol": "mmaction"})
    with pytest.raises(ValueError, match="pyslowfast takes 1 or 3 crops"):
        InputSpec.from_options({"protocol": "pyslowfast", "test_views": "10x2"})
    spec = InputSpec.from_options({"protocol": "pyslowfast"})
    assert spec.describe().endswith("the pyslowfast protocol") and spec.evaluation_view()["protocol"] == "pyslowfast"


def test_pyslowfast_clips_of_a_real_video_are_its_frames_pixel_for_pixel():
    """The real 720p H.264 test video (B-frames, key frames seconds apart, a stream that declares
    an earlier start than its first frame): gcvideo's 10 clips under the protocol, decoded at full
    size, are PySlowFast's own decode, pixel for pixel."""
    path = os.path.join(os.path.dirname(__file__), "data", "bbb_trailer_720p.mp4")
    decoder = peer_module("decoder")
    ours = decode_views(path, 8, 8, clips=10, crops=1, short_side=720, crop=720, protocol="pyslowfast")["frames"]
    for k in range(10):
        theirs = decoder.decode(av.open(path), 8, 8, clip_idx=k, num_clips=10, target_fps=30).numpy()
        assert np.array_equal(ours[k].permute(0, 2, 3, 1).numpy(), theirs), k
