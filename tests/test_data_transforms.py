import numpy as np
import torch

from gcvideo.data.transforms import (center_crop, crop_resize, normalize, normalize_clips, random_crop_box,
                                     spatial_crop_boxes, to_tchw, train_clip)


def test_three_test_crops_of_a_340x256_video():
    # short side already 256: crops of 256 at left 0, centre 42, right 84
    assert spatial_crop_boxes(256, 340, 256, 256, 3) == [(0, 0, 256, 256), (0, 42, 256, 256), (0, 84, 256, 256)]
    # portrait 512x384 (HxW): scale 2/3 to 341x256, crops along the height at 0, 42, 85
    # scaled pixels = 0, 63, 128 source pixels (the last clamped to end at the bottom), size 384
    boxes = spatial_crop_boxes(512, 384, 256, 256, 3)
    assert boxes == [(0, 0, 384, 384), (63, 0, 384, 384), (128, 0, 384, 384)]
    assert spatial_crop_boxes(256, 340, 256, 224, 1) == [(16, 58, 224, 224)]


def test_random_boxes_stay_inside_the_frame():
    rng = np.random.default_rng(0)
    for h, w in [(257, 341), (48, 64), (720, 1280), (1280, 720)]:
        for _ in range(50):
            top, left, bh, bw = random_crop_box(h, w, (256, 320), 224, rng)
            assert 0 <= top and top + bh <= h + 1 and 0 <= left and left + bw <= w + 1
            assert bh == bw and bh <= min(h, w)


def test_crop_then_resize_equals_resize_then_crop():
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 255, (2, 96, 128, 3), dtype=np.uint8)
    frames = np.kron(frames[:, ::8, ::8], np.ones((1, 8, 8, 1), np.uint8))    # smooth image
    clip = to_tchw(frames)
    # scale short side 96 -> 192 (x2), take the 64-crop at (32, 40) of the scaled frame
    from torchvision.transforms.v2 import functional as TF
    reference = TF.resize(clip, [192, 256], antialias=True)[..., 32:96, 40:104]
    ours = crop_resize(clip, (16, 20, 32, 32), 64)
    assert (ours.float() - reference.float()).abs().mean() < 4


def test_normalisation_and_shapes():
    gray = np.full((4, 50, 70, 3), round(0.45 * 255), np.uint8)
    out = normalize(center_crop(gray, short_side=64, crop=56))
    assert out.shape == (3, 4, 56, 56) and out.dtype == torch.float32
    assert out.abs().max() < 0.01                                   # mean 0.45 maps to 0
    white = normalize(torch.full((1, 3, 2, 2), 255, dtype=torch.uint8))
    torch.testing.assert_close(white, torch.full((3, 1, 2, 2), (1 - 0.45) / 0.225))
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 255, (8, 257, 341, 3), dtype=np.uint8)
    out = normalize_clips(train_clip(frames, rng, (256, 320), 224))
    assert out.shape == (3, 8, 224, 224)
    assert -0.45 / 0.225 - 1e-5 <= out.min() and out.max() <= 0.55 / 0.225 + 1e-5


def test_flip_is_random_and_horizontal():
    frames = np.zeros((1, 64, 64, 3), np.uint8)
    frames[:, :, :32] = 255                                         # left half white
    lefts = []
    for seed in range(20):
        out = normalize_clips(train_clip(frames, np.random.default_rng(seed), (64, 64), 64))
        lefts.append(bool(out[0, 0, 32, 5] > 0))
    assert 0 < sum(lefts) < 20


def test_clips_travel_as_uint8_and_are_normalised_in_the_batch():
    """Workers send uint8 clips (4x less to copy between processes, no float passes in the
    worker); the model normalises the batch: the same numbers as normalising each clip."""
    import torch

    from gcvideo.data.transforms import normalize_clips, train_clip
    from gcvideo.engine.module import VideoClassifier

    frames = np.random.default_rng(0).integers(0, 256, (4, 40, 50, 3), dtype=np.uint8)
    clip = train_clip(frames, np.random.default_rng(1), (32, 40), 32)
    assert clip.dtype == torch.uint8 and clip.shape == (3, 4, 32, 32)
    by_hand = (clip.double() / 255 - 0.45) / 0.225
    assert torch.allclose(normalize_clips(clip).double(), by_hand, atol=1e-5)
    module = VideoClassifier("slow_r50", {"depths": [1, 1, 1, 1], "width": 4}, num_classes=3)
    batch = module.batch_video({"video": torch.stack([clip, clip])})
    assert batch.dtype == torch.float32 and torch.equal(batch[1], normalize_clips(clip))


def test_clip_augmentations_draw_once_for_all_frames_of_a_clip():
    """RandAugment and random erasing on uint8 clips, one draw per clip, from the
    clip's own rng (seed, epoch, index)."""
    import torch

    from gcvideo.data.transforms import clip_augmentation, train_clip

    frame = np.random.default_rng(0).integers(0, 256, (1, 40, 50, 3), dtype=np.uint8)
    frames = np.repeat(frame, 6, axis=0)                          # every frame the same picture
    augment = clip_augmentation(randaugment=2, magnitude=9, erasing=0.5)
    plain = train_clip(frames, np.random.default_rng(3), (32, 40), 32)
    changed = 0
    for seed in range(8):
        clip = train_clip(frames, np.random.default_rng(seed), (32, 40), 32, augment=augment)
        assert clip.dtype == torch.uint8 and clip.shape == (3, 6, 32, 32)
        assert all(torch.equal(clip[:, 0], clip[:, t]) for t in range(6)), "frames drew differently"
        again = train_clip(frames, np.random.default_rng(seed), (32, 40), 32, augment=augment)
        assert torch.equal(clip, again)                          # a function of the clip's rng
        changed += seed == 3 and not torch.equal(clip, plain)
    assert changed == 1
    assert clip_augmentation() is None                           # off by default: the paper's recipe


def test_mixup_and_cutmix_give_soft_targets_and_one_box_per_clip():
    import torch

    from gcvideo.engine.module import batch_mixing, mix_batch

    torch.manual_seed(0)
    video = torch.rand(6, 3, 1, 16, 16).repeat(1, 1, 4, 1, 1)    # each clip: 4 equal frames
    labels = torch.tensor([0, 1, 2, 3, 4, 0])
    for mix in (batch_mixing(5, mixup_alpha=0.8), batch_mixing(5, cutmix_alpha=1.0), batch_mixing(5, 0.8, 1.0)):
        mixed, target = mix_batch(mix, video, labels)
        assert mixed.shape == video.shape and target.shape == (6, 5)
        assert torch.allclose(target.sum(-1), torch.ones(6)) and (target >= 0).all()
        assert all(torch.equal(mixed[:, :, 0], mixed[:, :, t]) for t in range(4))
    assert batch_mixing(5) is None
