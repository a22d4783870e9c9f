import pytest
import torch

from gcvideo.data.multiview import decode_views, iter_views
from gcvideo.data.spec import parse_views
from gcvideo.data.synth import write_video
from gcvideo.data.transforms import normalize
from videos import frame_index, ramp_frames


@pytest.fixture(scope="module")
def video_300x340x256(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("mv") / "v.mp4")
    write_video(path, ramp_frames(300, height=256, width=340))   # 10 s at 30 fps
    return path


def test_view_positions_of_a_known_video(video_300x340x256):
    out = decode_views(video_300x340x256, num_frames=8, sampling_rate=8, clips=10, crops=3,
                       short_side=256, crop=256)
    frames = out["frames"]
    assert frames.shape == (10, 8, 3, 256, 340) and frames.dtype == torch.uint8
    # clip i starts at frame 27 i (last start 243 = 300 - 1 - 56), frames 8 apart
    got = [[frame_index(f.permute(1, 2, 0).numpy()) for f in clip] for clip in frames]
    assert got == [[(27 * i + 8 * k) % 256 for k in range(8)] for i in range(10)]   # 8-bit code
    # short side already 256: left, centre, right 256-crops at x = 0, 42, 84
    assert out["boxes"] == [(0, 0, 256, 256), (0, 42, 256, 256), (0, 84, 256, 256)]


def test_views_are_cut_from_the_decoded_tensor_in_chunks(video_300x340x256):
    out = decode_views(video_300x340x256, num_frames=4, sampling_rate=8, clips=2, crops=3,
                       short_side=128, crop=112)
    frames, boxes = out["frames"], out["boxes"]
    assert frames.shape[-2:] == (128, 170)
    chunks = list(iter_views(frames, boxes, chunk=4))
    assert [c.shape[0] for c in chunks] == [4, 2]
    views = torch.cat(chunks)                                       # clip-major, then crop
    assert views.shape == (6, 3, 4, 112, 112)
    top, left, h, w = boxes[2]
    torch.testing.assert_close(views[5], normalize(frames[1][..., top:top + h, left:left + w]))


def test_parse_views():
    assert parse_views("10x3") == (10, 3) and parse_views("1X1") == (1, 1)
    with pytest.raises(ValueError, match="CLIPSxCROPS"):
        parse_views("ten")
