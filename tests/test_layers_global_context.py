import pytest
import torch
import torch.nn.functional as F
from pytorchvideo.models import init_net_weights
from torch import nn

from gcvideo import GlobalContext3d
from gcvideo.layers import AttentionPool3d, FoldedGlobalContext3d, SqueezeExcite3d, can_fold
from helpers import assert_every_parameter_learns, perturb


def reference_gc(block: GlobalContext3d, x: torch.Tensor) -> torch.Tensor:
    """The paper's formulas written out position by position."""
    n, c, t, h, w = x.shape
    flat = x.reshape(n, c, t * h * w)
    if block.pooling == "att":
        logits = torch.einsum("oc,ncp->np", block.pool.weight.view(1, c), flat)   # (N, P)
        weights = torch.exp(logits - logits.max(1, keepdim=True).values)
        weights = weights / weights.sum(1, keepdim=True)                   # one softmax over T*H*W
        ctx = (flat * weights[:, None]).sum(-1)
    else:
        ctx = flat.mean(-1)
    conv1, ln, _, conv2 = block.transform
    hid = ctx @ conv1.weight.flatten(1).T + conv1.bias
    if isinstance(ln, nn.LayerNorm):
        hid = F.layer_norm(hid, hid.shape[1:], ln.weight.flatten(), ln.bias.flatten(), ln.eps)
    delta = hid.relu() @ conv2.weight.flatten(1).T + conv2.bias
    delta = delta.view(n, c, 1, 1, 1)
    return x + delta if block.fusion == "add" else x * delta.sigmoid()


def test_identity_at_init(clip):
    block = GlobalContext3d(16, reduction=4)
    assert torch.equal(block(clip), clip)


def test_mul_fusion_keeps_the_default_init_of_its_last_conv(clip):
    """Zero would make a mul block x / 2 (sigmoid(0)), no identity: mul keeps PyTorch's default init,
    as SE does (mmcv's ContextBlock zeroes it for both; the module docstring says so)."""
    last = GlobalContext3d(16, reduction=4, fusion="mul").transform[-1]
    assert last.weight.abs().sum() > 0
    add = GlobalContext3d(16, reduction=4).transform[-1]
    assert add.weight.abs().sum() == 0 and add.bias.abs().sum() == 0


def test_identity_survives_model_wide_inits(clip):
    net = nn.Sequential(nn.Conv3d(16, 16, 1), GlobalContext3d(16, reduction=4))
    init_net_weights(net)                                  # pytorchvideo's ResNet init
    for m in net.modules():                                # torchvision-style init loop
        if isinstance(m, (nn.Conv3d, nn.Linear)):
            nn.init.kaiming_normal_(m.weight)
    assert torch.equal(net[1](clip), clip)


def test_reset_parameters_restores_identity(clip):
    block = perturb(GlobalContext3d(16, reduction=4))
    assert not torch.allclose(block(clip), clip)
    block.reset_parameters()
    assert torch.equal(block(clip), clip)


@pytest.mark.parametrize("pooling", ["att", "avg"])
@pytest.mark.parametrize("fusion", ["add", "mul"])
@pytest.mark.parametrize("layer_norm", [True, False])
def test_matches_paper_formulas(clip, pooling, fusion, layer_norm):
    block = perturb(GlobalContext3d(16, reduction=4, pooling=pooling, fusion=fusion,
                                    layer_norm=layer_norm))
    torch.testing.assert_close(block(clip), reference_gc(block, clip), rtol=1e-5, atol=1e-5)


def test_softmax_is_joint_over_time_and_space():
    # One position in frame 0 has a huge key logit: a joint softmax puts (almost)
    # all weight there; a per-frame softmax would average one winner per frame.
    x = torch.zeros(1, 2, 3, 2, 2)
    x[0, 0, 0, 1, 1] = 10.0                  # channel 0 is the key signal
    x[0, 1] = torch.arange(12.0).view(3, 2, 2)  # channel 1 carries distinct values
    pool = AttentionPool3d(2)
    with torch.no_grad():
        pool.weight.copy_(torch.tensor([1.0, 0.0]).view(1, 2, 1, 1, 1))
    ctx = pool(x).flatten()
    joint = (x[0, 1].flatten() * torch.softmax(x[0, 0].flatten(), 0)).sum()
    per_frame = (x[0, 1].flatten(1) * torch.softmax(x[0, 0].flatten(1), 1)).sum(1).mean()
    torch.testing.assert_close(ctx[1], joint)
    assert abs(ctx[1] - x[0, 1, 0, 1, 1]) < 1e-2      # the winner's value, 3.0
    assert abs(joint - per_frame) > 1.0                # the test can tell the two apart


def test_avg_pooling_is_the_mean(clip):
    block = GlobalContext3d(16, reduction=4, pooling="avg")
    seen = {}
    block.transform[0].register_forward_pre_hook(lambda m, i: seen.update(ctx=i[0]))
    block(clip)
    torch.testing.assert_close(seen["ctx"], clip.mean(dim=(2, 3, 4), keepdim=True))


def test_add_fusion_adds_the_same_vector_everywhere(clip):
    block = perturb(GlobalContext3d(16, reduction=4))
    delta = block(clip) - clip                                   # (N, C, T, H, W)
    flat = delta.flatten(2)
    assert flat.abs().max() > 1e-3
    torch.testing.assert_close(flat, flat[..., :1].expand_as(flat), rtol=0, atol=1e-5)


@pytest.mark.parametrize("options", [{}, {"pooling": "avg"}, {"fusion": "mul"}])
def test_equivariant_to_permuting_positions(clip, options):
    block = perturb(GlobalContext3d(16, reduction=4, **options))
    perm = torch.randperm(clip[0, 0].numel(), generator=torch.Generator().manual_seed(0))
    shuffle = lambda v: v.flatten(2)[..., perm].view_as(v)     # noqa: E731
    torch.testing.assert_close(block(shuffle(clip)), shuffle(block(clip)), rtol=1e-5, atol=1e-5)


def test_gradient_reaches_every_parameter(clip):
    assert_every_parameter_learns(GlobalContext3d(16, reduction=4), clip)


@pytest.mark.parametrize("shape", [(1, 16, 1, 1, 1), (3, 16, 1, 7, 5), (2, 16, 4, 1, 1)])
def test_degenerate_shapes(shape):
    block = perturb(GlobalContext3d(16, reduction=4))
    x = torch.randn(shape)
    torch.testing.assert_close(block(x), reference_gc(block, x), rtol=1e-5, atol=1e-5)


def test_low_precision_and_channels_last(clip):
    block = perturb(GlobalContext3d(16, reduction=4))
    ref = block(clip)
    torch.testing.assert_close(block(clip.to(memory_format=torch.channels_last_3d)), ref)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = block(clip)
    torch.testing.assert_close(out.float(), ref, rtol=0.05, atol=0.1)
    with torch.autocast("cpu", dtype=torch.float16):
        out = block(clip)
    torch.testing.assert_close(out.float(), ref, rtol=0.02, atol=0.05)
    out = block.to(torch.bfloat16)(clip.bfloat16())
    assert out.dtype == torch.bfloat16
    torch.testing.assert_close(out.float(), ref, rtol=0.05, atol=0.1)


def test_bad_options():
    with pytest.raises(ValueError, match="pooling"):
        GlobalContext3d(16, pooling="max")
    with pytest.raises(ValueError, match="fusion"):
        GlobalContext3d(16, fusion="cat")


def conv_and_norm(variant: str, c_in: int = 8, c: int = 16):
    """A 1x1x1 conv + eval-mode BN with trained-looking statistics, in several flavours."""
    g = torch.Generator().manual_seed(2)
    conv = nn.Conv3d(c_in, c, 1, bias=(variant == "conv_bias"))
    norm = None if variant == "no_norm" else nn.BatchNorm3d(c, affine=(variant != "bn_no_affine"))
    with torch.no_grad():
        conv.weight.copy_(torch.randn(conv.weight.shape, generator=g) * 0.3)
        if conv.bias is not None:
            conv.bias.copy_(torch.randn(c, generator=g))
        if norm is not None:
            norm.running_mean.copy_(torch.randn(c, generator=g))
            norm.running_var.copy_(torch.rand(c, generator=g) + 0.5)
            if norm.affine:
                norm.weight.copy_(torch.randn(c, generator=g))   # signs and a zero included
                norm.weight[0] = 0.0
                norm.bias.copy_(torch.randn(c, generator=g))
            norm.eval()
    return conv, norm


def plain(block, x, conv, norm):
    y = conv(x)
    return block(norm(y) if norm is not None else y)


@pytest.mark.parametrize("pooling", ["att", "avg"])
@pytest.mark.parametrize("fusion", ["add", "mul"])
@pytest.mark.parametrize("variant", ["bn", "bn_no_affine", "conv_bias", "no_norm"])
@pytest.mark.parametrize("batch", [1, 3])
@pytest.mark.parametrize("c_in", [8, 160])    # pools the conv's input / its output (weight too big)
def test_folded_block_equals_block_after_conv_and_norm(pooling, fusion, variant, batch, c_in):
    block = perturb(GlobalContext3d(16, reduction=4, pooling=pooling, fusion=fusion)).eval()
    conv, norm = conv_and_norm(variant, c_in=c_in)
    x = torch.randn(batch, c_in, 3, 5, 6, generator=torch.Generator().manual_seed(3))
    assert can_fold(block, conv, norm)
    folded = FoldedGlobalContext3d(conv, norm, block)
    with torch.no_grad():
        expected = plain(block, x, conv, norm)
        assert expected.sub(norm(conv(x)) if norm else conv(x)).abs().max() > 0.1   # block does work
        torch.testing.assert_close(folded(x), expected, rtol=1e-5, atol=1e-5)
        # channels_last_3d input (N > 1 takes the broadcast path)
        x_cl = x.contiguous(memory_format=torch.channels_last_3d)
        torch.testing.assert_close(folded(x_cl), expected, rtol=1e-5, atol=1e-5)


def test_folded_block_is_exactly_conv_and_norm_at_init():
    block = GlobalContext3d(16, reduction=4).eval()
    conv, norm = conv_and_norm("bn")
    x = torch.randn(3, 8, 3, 5, 6)
    with torch.no_grad():
        assert torch.equal(FoldedGlobalContext3d(conv, norm, block)(x), norm(conv(x)))


def test_folded_block_under_autocast():
    block = perturb(GlobalContext3d(16, reduction=4)).eval()
    conv, norm = conv_and_norm("bn")
    x = torch.randn(2, 8, 3, 5, 6)
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        expected, folded = plain(block, x, conv, norm), FoldedGlobalContext3d(conv, norm, block)(x)
    assert folded.dtype == expected.dtype
    torch.testing.assert_close(folded.float(), expected.float(), rtol=0.05, atol=0.1)


def test_can_fold_only_what_is_an_affine_map_at_inference():
    block = GlobalContext3d(16, reduction=4).eval()
    conv, norm = conv_and_norm("bn")
    assert can_fold(block, conv, norm) and can_fold(block, conv, None)
    assert not can_fold(block, nn.Conv3d(8, 16, (1, 3, 3), padding=(0, 1, 1)), norm)   # spatial conv
    assert not can_fold(block, nn.Conv3d(8, 16, 1, stride=(1, 2, 2)), norm)
    assert not can_fold(block, nn.Conv3d(8, 32, 1), nn.BatchNorm3d(32).eval())     # wrong channels
    assert not can_fold(block, conv, nn.BatchNorm3d(16, track_running_stats=False).eval())
    assert not can_fold(block, conv, nn.LayerNorm([16, 1, 1, 1]))
    assert not can_fold(SqueezeExcite3d(16), conv, norm)                          # GC blocks only
    with pytest.raises(ValueError, match="cannot fold"):
        FoldedGlobalContext3d(nn.Conv3d(8, 32, 1), norm, block)


def test_folded_block_is_inference_only_and_the_plain_block_stays_plain():
    block = perturb(GlobalContext3d(16, reduction=4))
    conv, norm = conv_and_norm("bn")
    folded = FoldedGlobalContext3d(conv, norm, block)
    assert not folded.training and not norm.training
    with pytest.raises(RuntimeError, match="inference only"):
        folded.train()
    calls = []
    block.pool.register_forward_hook(lambda *a: calls.append(1))
    x = torch.randn(2, 8, 3, 5, 6)
    with torch.no_grad():
        block.eval()(norm(conv(x)))                 # eval mode: still the paper's block
        assert calls == [1]
        folded(x)                                   # the folded form never calls the pool
        assert calls == [1]


def test_the_standard_channels_last_call_works_and_old_layer_norm_weights_load():
    """``model.to(memory_format=torch.channels_last_3d)`` on a network with GC blocks (its
    LayerNorm is 1-D); a state dict with the (C/r, 1, 1, 1) LayerNorm of gcvideo 0.1 loads."""
    from gcvideo import create_model
    from helpers import TINY

    model = create_model("slow_r50_gc", num_classes=3, **TINY).eval()
    clip = torch.randn(2, 3, 4, 32, 32, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        expected = model(clip)
        old = {k: v.reshape(-1, 1, 1, 1) if k.endswith(("transform.1.weight", "transform.1.bias")) else v
               for k, v in model.state_dict().items()}
        assert any(v.dim() == 4 for v in old.values())
        model.to(memory_format=torch.channels_last_3d)
        got = model(clip.contiguous(memory_format=torch.channels_last_3d))
        assert torch.allclose(got, expected, atol=1e-5)
        fresh = create_model("slow_r50_gc", num_classes=3, **TINY).eval()
        fresh.load_state_dict(old)
        assert torch.equal(fresh(clip), expected)


def matmul_gc(block: GlobalContext3d, x: torch.Tensor) -> torch.Tensor:
    """The block as gcvideo computed it before its lean form: broadcast matmuls over flattened
    tensors, the LayerNorm on the flat context (same parameters, same function)."""
    def pointwise(layer, t):
        y = torch.matmul(layer.weight.view(layer.out_channels, layer.in_channels), t.flatten(2))
        return (y + layer.bias.view(1, -1, 1)).view(t.shape[0], layer.out_channels, *t.shape[2:])

    n, c = x.shape[:2]
    flat = x.flatten(2)
    weights = torch.matmul(block.pool.weight.view(1, c), flat).softmax(dim=-1)
    context = torch.matmul(flat, weights.transpose(1, 2)).view(n, c, 1, 1, 1)
    norm = block.transform[1]
    hidden = pointwise(block.transform[0], context)
    hidden = F.layer_norm(hidden.flatten(1), norm.normalized_shape, norm.weight, norm.bias, norm.eps).view_as(hidden)
    delta = pointwise(block.transform[3], hidden.relu())
    return x + delta if block.fusion == "add" else x * delta.sigmoid()


@pytest.mark.parametrize("fusion", ["add", "mul"])
def test_gradients_match_the_formulas(fusion):
    """The block's outputs and gradients are the paper's formulas' (float64: equal to 1e-12) and,
    in float32, within 4e-6 (relative, in norm) of them, as the earlier matmul formulation is."""
    import copy

    block64 = perturb(GlobalContext3d(64, reduction=8, fusion=fusion)).double()
    x64 = torch.randn(2, 64, 4, 7, 7, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    weight = torch.linspace(-1, 1, x64[0].numel(), dtype=torch.float64).view_as(x64[0])

    def grads(f, x, params):
        x = x.detach().requires_grad_()
        y = f(x)
        return [y, *torch.autograd.grad((y * weight.to(y.dtype)).sum(), [x, *params])]

    truth = grads(lambda t: reference_gc(block64, t), x64, list(block64.parameters()))
    for got, want in zip(grads(block64, x64, list(block64.parameters())), truth):
        assert (got - want).norm() <= 1e-12 * want.norm(), got.shape
    block32 = copy.deepcopy(block64).float()
    earlier = grads(lambda t: matmul_gc(block32, t), x64.float(), list(block32.parameters()))
    for got, before, want in zip(grads(block32, x64.float(), list(block32.parameters())), earlier, truth):
        # float32 rounding differs between CPUs (kernels, vector widths), so both are measured
        # against the float64 truth: here up to 1.0e-6 relative for the block, 6e-7 for the earlier form
        error, error_before = (got.double() - want).norm(), (before.double() - want).norm()
        assert error <= 4e-6 * want.norm() and error_before <= 4e-6 * want.norm(), got.shape


def test_one_block_dispatches_few_ops():
    """Forward + backward of one GC block (C=512, 2x8x14x14, grads unset as after zero_grad) stays
    within 59 aten ops in fp32 and 69 under bf16 autocast (each op is host time on a GPU;
    benchmarks/dispatch_count.py prints the numbers beside the earlier formulation's)."""
    from torch.utils._python_dispatch import TorchDispatchMode

    class Count(TorchDispatchMode):
        ops = 0

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            Count.ops += 1
            return func(*args, **(kwargs or {}))

    block = perturb(GlobalContext3d(512))
    for autocast, limit in ((False, 59), (True, 69)):
        for p in block.parameters():
            p.grad = None
        x = torch.randn(2, 512, 8, 14, 14)
        x = (x.bfloat16() if autocast else x).requires_grad_()
        Count.ops = 0
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast), Count():
            block(x).float().sum().backward()
        assert 0 < Count.ops <= limit, (autocast, Count.ops)


@pytest.mark.parametrize("attention", [True, False])
def test_channels_last_pooling_reads_the_activation_in_place(attention):
    """A channels_last_3d activation is pooled as (N, P, C) rows, without the copy that flattening
    it to (N, C, P) makes: the same context and gradients as the contiguous path, in float64, and
    the input gradient keeps the activation's layout."""
    from gcvideo.layers import pool_positions

    gen = torch.Generator().manual_seed(3)
    x = torch.randn(3, 24, 4, 5, 6, dtype=torch.float64, generator=gen)
    key = torch.randn(1, 24, dtype=torch.float64, generator=gen) if attention else None
    plain = x.clone().requires_grad_()
    rows = x.contiguous(memory_format=torch.channels_last_3d).requires_grad_()
    assert not rows.is_contiguous()
    a, b = pool_positions(plain, key), pool_positions(rows, key)
    torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)
    weights = torch.randn(a.shape, dtype=torch.float64, generator=gen)
    (a * weights).sum().backward()
    (b * weights).sum().backward()
    torch.testing.assert_close(plain.grad, rows.grad, rtol=1e-12, atol=1e-12)
    assert rows.grad.is_contiguous(memory_format=torch.channels_last_3d)
