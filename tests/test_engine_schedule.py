import math

import pytest

from gcvideo.engine.schedule import cosine_lr, lr_at, scaled_lr


def test_slowfast_recipe_values():
    # SLOW_8x8_R50: base 0.1, warm-up 34 epochs from 0.01, cosine over 196 epochs
    kw = dict(base_lr=0.1, max_epochs=196, warmup_epochs=34, warmup_start_lr=0.01)
    end_of_warmup = 0.1 * 0.5 * (1 + math.cos(math.pi * 34 / 196))
    assert lr_at(0, **kw) == pytest.approx(0.01)
    assert lr_at(17, **kw) == pytest.approx(0.01 + (end_of_warmup - 0.01) / 2)
    assert lr_at(34, **kw) == pytest.approx(end_of_warmup)
    assert lr_at(98, **kw) == pytest.approx(0.05)
    assert lr_at(196, **kw) == pytest.approx(0.0, abs=1e-12)
    # per iteration: fractional epochs give strictly increasing lrs during warm-up
    steps = [lr_at(e / 10, **kw) for e in range(20)]
    assert all(a < b for a, b in zip(steps, steps[1:]))


def test_cosine_and_scaling():
    assert cosine_lr(0, 1.0, 10) == 1.0 and cosine_lr(10, 1.0, 10, final_lr=0.1) == pytest.approx(0.1)
    assert cosine_lr(20, 1.0, 10) == pytest.approx(0.0)            # clamped after the end
    assert scaled_lr(0.1, 64) == pytest.approx(0.1) and scaled_lr(0.1, 512) == pytest.approx(0.8)
    assert scaled_lr(0.1, 16) == pytest.approx(0.025)
