"""gcvideo.models.peers: PySlowFast's checkpoints (.pyth and Caffe2 .pkl) read into gcvideo's
networks, proved with PySlowFast's own code: its network built by its own builder from its own
config, saved in its formats, converted, and compared output for output."""
import os
import pickle
import sys
import types

import numpy as np
import pytest
import torch

from gcvideo import create_model
from gcvideo.cli import main
from gcvideo.models.peers import caffe2_to_pyslowfast
from gcvideo.models.weights import read_weights
from helpers import randomize_norms, tiny_args

CROP, FRAMES, CLASSES = 64, 8, 5


@pytest.fixture(scope="module")
def pyslowfast():
    """PySlowFast 1.0 (installed by `make test` without its dependencies; its AVA head's
    detectron2 import is the only one it lacks, and the networks here never use it)."""
    if "detectron2.layers" not in sys.modules:
        detectron2, layers = types.ModuleType("detectron2"), types.ModuleType("detectron2.layers")
        layers.ROIAlign, detectron2.layers = None, layers
        sys.modules.update({"detectron2": detectron2, "detectron2.layers": layers})
    config = pytest.importorskip("slowfast.config.defaults")
    builder = pytest.importorskip("slowfast.models.video_model_builder")
    names = pytest.importorskip("slowfast.utils.c2_model_loading")
    return config, builder, names


def slow_r50(pyslowfast, arch: str = "slowonly"):
    """PySlowFast's SLOW_8x8_R50 (or C2D/I3D R50) network, built by its own builder from its own
    config, in eval mode, with non-trivial BatchNorm statistics."""
    config, builder, _ = pyslowfast
    cfg = config.get_cfg()
    cfg.MODEL.ARCH, cfg.MODEL.NUM_CLASSES, cfg.RESNET.DEPTH = arch, CLASSES, 50
    cfg.DATA.NUM_FRAMES, cfg.DATA.CROP_SIZE, cfg.DATA.INPUT_CHANNEL_NUM = FRAMES, CROP, [3]
    cfg.RESNET.NUM_BLOCK_TEMP_KERNEL = [[3], [4], [6], [3]]
    cfg.RESNET.SPATIAL_STRIDES, cfg.RESNET.SPATIAL_DILATIONS = [[1], [2], [2], [2]], [[1], [1], [1], [1]]
    cfg.NONLOCAL.LOCATION, cfg.NONLOCAL.GROUP = [[[]]] * 4, [[1]] * 4
    cfg.NONLOCAL.POOL = [[[1, 2, 2], [1, 2, 2]]] * 4
    torch.manual_seed(0)
    return randomize_norms(builder.ResNetModel(cfg)).eval()


def caffe2_name(key: str) -> str:
    """A PySlowFast parameter's name as its Caffe2 model zoo writes it (written out here from the
    zoo's naming; PySlowFast's own converter must map it back, which the test checks)."""
    bn = {"weight": "s", "bias": "b", "running_mean": "rm", "running_var": "riv"}
    wb = {"weight": "w", "bias": "b"}
    module, _, param = key.rpartition(".")
    parts = module.split(".")
    if module == "head.projection":
        return f"pred_{wb[param]}"
    if parts[0].endswith("_fuse"):          # the fast-to-slow fusion after stage K: named after the
        stage = int(parts[0][1])            # fast pathway's last block there (last_blocks)
        at = "t_pool1_subsample" if stage == 1 else f"t_res{stage}_{last_blocks[stage]}_branch2c_bn_subsample"
        return f"{at}_bn_{bn[param]}" if parts[1] == "bn" else f"{at}_{wb[param]}"
    t = "t_" if ".pathway1" in key else ""
    if parts[1].startswith("pathway0_nonlocal"):
        name = f"nonlocal_conv{parts[0][1:]}_{parts[1][len('pathway0_nonlocal'):]}"
        return f"{name}_bn_{bn[param]}" if parts[2] == "bn" else f"{name}_{parts[2][len('conv_'):]}_{wb[param]}"
    if parts[1].endswith("_stem"):
        return f"{t}conv1_{wb[param]}" if parts[2] == "conv" else f"{t}res_conv1_bn_{bn[param]}"
    stage, block = parts[0][1:], parts[1].split("_res")[1]
    if parts[2] == "branch1":
        return f"{t}res{stage}_{block}_branch1_{wb[param]}"
    if parts[2] == "branch1_bn":
        return f"{t}res{stage}_{block}_branch1_bn_{bn[param]}"
    layer = parts[3]
    return f"{t}res{stage}_{block}_branch2{layer[0]}_" + (f"bn_{bn[param]}" if layer.endswith("_bn") else wb[param])


last_blocks = {1: 0, 2: 2, 3: 3, 4: 5}      # R50: the last residual block of stages 2-4


def compare(peer, ours, seed: int = 1, frames: int = FRAMES, alpha: int = 0) -> None:
    """PySlowFast's network (softmax in eval mode) against gcvideo's on the same clip (a SlowFast
    network, ``alpha`` > 0: every alpha-th frame for the slow pathway, as gcvideo's takes it)."""
    clip = torch.randn(2, 3, frames, CROP, CROP, generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        theirs = peer([clip[:, :, ::alpha].clone(), clip.clone()] if alpha else [clip.clone()])
        mine = ours.eval()(clip).softmax(-1)
    assert torch.allclose(mine, theirs, rtol=1e-5, atol=1e-6), (mine - theirs).abs().max()


def slowfast_r50(pyslowfast, frames: int = 32):
    """PySlowFast's SLOWFAST_8x8_R50 (alpha 4, beta 1/8, fusion kernel 7) from its own config."""
    config, builder, _ = pyslowfast
    cfg = config.get_cfg()
    cfg.MODEL.ARCH, cfg.MODEL.NUM_CLASSES, cfg.RESNET.DEPTH, cfg.SLOWFAST.ALPHA = "slowfast", CLASSES, 50, 4
    cfg.SLOWFAST.FUSION_KERNEL_SZ = 7
    cfg.DATA.NUM_FRAMES, cfg.DATA.CROP_SIZE, cfg.DATA.INPUT_CHANNEL_NUM = frames, CROP, [3, 3]
    cfg.RESNET.NUM_BLOCK_TEMP_KERNEL = [[3, 3], [4, 4], [6, 6], [3, 3]]
    cfg.RESNET.SPATIAL_STRIDES, cfg.RESNET.SPATIAL_DILATIONS = [[1, 1], [2, 2], [2, 2], [2, 2]], [[1, 1]] * 4
    cfg.NONLOCAL.LOCATION, cfg.NONLOCAL.GROUP = [[[], []]] * 4, [[1, 1]] * 4
    cfg.NONLOCAL.POOL = [[[1, 2, 2], [1, 2, 2]]] * 4
    torch.manual_seed(0)
    return randomize_norms(builder.SlowFastModel(cfg)).eval()


def caffe2_pickle(pyslowfast, peer, path) -> None:
    """``peer`` written as a Caffe2 model-zoo ``.pkl`` (with optimiser state), each name checked
    against PySlowFast's own converter and gcvideo's."""
    convert = pyslowfast[2].get_name_convert_func()
    blobs = {}
    for key, value in peer.state_dict().items():
        if key.endswith("num_batches_tracked"):
            continue                                           # Caffe2 keeps no such counter
        name = caffe2_name(key)
        assert convert(name) == key, (name, convert(name), key)   # PySlowFast's own table agrees
        assert caffe2_to_pyslowfast(name) == key                  # and gcvideo's
        blobs[name] = value.numpy()
        blobs[name + "_momentum"] = np.zeros_like(blobs[name])     # optimiser state: ignored
    with open(path, "wb") as f:
        pickle.dump({"blobs": blobs, "model_iter": 1}, f, protocol=2)


@pytest.mark.parametrize("arch, model", [("slowonly", "slow_r50"), ("i3d", "i3d_r50")])
def test_a_pyslowfast_checkpoint_loads_and_computes_the_same_function(pyslowfast, tmp_path, arch, model):
    peer = slow_r50(pyslowfast, arch)
    path = tmp_path / "peer.pyth"
    torch.save({"epoch": 196, "model_state": peer.state_dict(), "cfg": "..."}, path)
    fmt, state = read_weights(path)
    assert fmt == "pyslowfast" and len(state) == len(peer.state_dict())
    compare(peer, create_model(model, num_classes=CLASSES, pretrained=str(path)))


def test_a_caffe2_model_zoo_pickle_loads_and_computes_the_same_function(pyslowfast, tmp_path):
    peer = slow_r50(pyslowfast)
    path = tmp_path / "SLOW_8x8_R50.pkl"
    caffe2_pickle(pyslowfast, peer, path)
    fmt, state = read_weights(path)
    assert fmt == "pyslowfast-caffe2"
    compare(peer, create_model("slow_r50", num_classes=CLASSES, pretrained=str(path)))
    # GC inserted on the converted weights: the identity at initialisation, so the same function
    compare(peer, create_model("slow_r50_gc", num_classes=CLASSES, pretrained=str(path)))


def test_a_pyslowfast_slowfast_checkpoint_computes_the_same_function_in_both_formats(pyslowfast, tmp_path):
    """Both pathways, the fusions (``sK_fuse``) and the head: PySlowFast's SlowFastModel saved as
    ``.pyth`` and as a Caffe2 ``.pkl`` (``t_`` fast-pathway and ``..._subsample`` fusion names),
    loaded into gcvideo's slowfast_r50 (and with GC inserted)."""
    peer = slowfast_r50(pyslowfast)
    pyth, pkl = tmp_path / "SLOWFAST_8x8_R50.pyth", tmp_path / "SLOWFAST_8x8_R50.pkl"
    torch.save({"model_state": peer.state_dict()}, pyth)
    caffe2_pickle(pyslowfast, peer, pkl)
    for path in (pyth, pkl):
        fmt, state = read_weights(path)
        assert fmt in ("pyslowfast", "pyslowfast-caffe2") and len(state) == len(peer.state_dict())
        compare(peer, create_model("slowfast_r50", num_classes=CLASSES, pretrained=str(path)), frames=32, alpha=4)
    compare(peer, create_model("slowfast_r50_gc", num_classes=CLASSES, pretrained=str(pyth)), frames=32, alpha=4)


def non_local_r50(pyslowfast, instantiation: str):
    """PySlowFast's Slow R50 with non-local blocks after residual blocks 1, 3 of res3 and 1, 3, 5 of
    res4 (its NLN configs' locations), keys/values pooled (1, 2, 2), the blocks' weights random."""
    config, builder, _ = pyslowfast
    cfg = config.get_cfg()
    cfg.MODEL.ARCH, cfg.MODEL.NUM_CLASSES, cfg.RESNET.DEPTH = "slowonly", CLASSES, 50
    cfg.DATA.NUM_FRAMES, cfg.DATA.CROP_SIZE, cfg.DATA.INPUT_CHANNEL_NUM = FRAMES, CROP, [3]
    cfg.RESNET.NUM_BLOCK_TEMP_KERNEL = [[3], [4], [6], [3]]
    cfg.RESNET.SPATIAL_STRIDES, cfg.RESNET.SPATIAL_DILATIONS = [[1], [2], [2], [2]], [[1], [1], [1], [1]]
    cfg.NONLOCAL.LOCATION, cfg.NONLOCAL.GROUP = [[[]], [[1, 3]], [[1, 3, 5]], [[]]], [[1]] * 4
    cfg.NONLOCAL.POOL = [[[1, 2, 2], [1, 2, 2]]] * 4
    cfg.NONLOCAL.INSTANTIATION = instantiation
    torch.manual_seed(0)
    peer = randomize_norms(builder.ResNetModel(cfg)).eval()
    with torch.no_grad():
        for name, p in peer.named_parameters():
            if "nonlocal" in name:          # dot_product sums over keys: smaller, to stay finite
                p.normal_(0, 0.02 if instantiation == "softmax" else 0.002)
    peer.head.act = torch.nn.Identity()     # logits: the blocks' effect is seen unsaturated
    return peer


@pytest.mark.parametrize("instantiation", ["softmax", "dot_product"])
def test_pyslowfast_non_local_weights_need_and_get_its_pooling_convention(pyslowfast, tmp_path, capsys, instantiation):
    """PySlowFast pools x before its phi/g convs, gcvideo's (and mmcv's) NL after them: with its
    weights, slow_r50_nl5 built with pool_input=True computes PySlowFast's function; the default
    convention is refused in one line (it would compute another one: measured below)."""
    peer = non_local_r50(pyslowfast, instantiation)
    path = tmp_path / "SLOW_NLN_8x8_R50.pyth"
    torch.save({"model_state": peer.state_dict()}, path)
    with pytest.raises(ValueError, match="pool x before their phi/g convs .* pool_input=True"):
        create_model("slow_r50_nl5", num_classes=CLASSES, instantiation=instantiation, pretrained=str(path))
    clip = torch.randn(2, 3, FRAMES, CROP, CROP, generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        theirs = peer([clip.clone()])
    ours = create_model("slow_r50_nl5", num_classes=CLASSES, instantiation=instantiation, pool_input=True,
                        pretrained=str(path)).eval()
    with torch.no_grad():
        mine = ours(clip)
    assert torch.allclose(mine, theirs, rtol=1e-5, atol=1e-5 * theirs.abs().max()), (mine - theirs).abs().max()
    for block in ours.modules():                          # the same weights, the other convention
        if hasattr(block, "pool_input"):
            block.pool_input = False
    with torch.no_grad():
        assert (ours(clip) - theirs).abs().max() > 1e-3 * theirs.abs().max()
    # convert says which convention the file needs and keeps saying it
    out = tmp_path / "nl5.pt"
    assert main(["convert", str(path), str(out), "--model", "slow_r50_nl5"]) == 0
    assert "nothing left at its initialisation" in capsys.readouterr().out
    with pytest.raises(ValueError, match="pool_input=True"):
        create_model("slow_r50_nl5", num_classes=CLASSES, pretrained=str(out))
    again = create_model("slow_r50_nl5", num_classes=CLASSES, instantiation=instantiation, pool_input=True,
                         pretrained=str(out)).eval()
    with torch.no_grad():
        assert torch.equal(again(clip), mine)


@pytest.mark.parametrize("arch, size, frames", [("r3d_18", 64, 8), ("mc3_18", 64, 8), ("r2plus1d_18", 64, 8),
                                                 ("s3d", 224, 16)])
def test_torchvision_weights_compute_torchvisions_function_on_gcvideos_input(tmp_path, arch, size, frames):
    """torchvision's own network (random weights and BN statistics) saved as its state_dict:
    gcvideo's registered model of that name, fed gcvideo's normalisation (0.45/0.225), gives the
    logits torchvision's gives on the same pixels normalised with the Kinetics statistics its weights
    expect; with GC inserted the same, and the file is named as torchvision's."""
    import torchvision.models.video as video

    torch.manual_seed(0)
    peer = randomize_norms(getattr(video, arch)(weights=None, num_classes=CLASSES)).eval()
    path = tmp_path / f"{arch}.pth"
    torch.save(peer.state_dict(), path)
    assert read_weights(path)[0] == "torchvision"
    pixels = torch.rand(1, 3, frames, size, size, generator=torch.Generator().manual_seed(4))
    theirs_in = (pixels - torch.tensor([0.43216, 0.394666, 0.37645]).view(1, 3, 1, 1, 1)) \
        / torch.tensor([0.22803, 0.22145, 0.216989]).view(1, 3, 1, 1, 1)
    with torch.no_grad():
        theirs = peer(theirs_in)
        for name in (arch, f"{arch}_gc"):
            mine = create_model(name, num_classes=CLASSES, pretrained=str(path)).eval()((pixels - 0.45) / 0.225)
            assert torch.allclose(mine, theirs, rtol=1e-5, atol=1e-5 * theirs.abs().max()), (name, (mine - theirs).abs().max())


def test_a_pickle_with_code_is_refused_without_running_it(synth_root, tmp_path, capsys):
    marker = tmp_path / "ran"
    payload = type("Payload", (), {"__reduce__": lambda self: (os.system, (f"touch {marker}",))})
    path = tmp_path / "evil.pkl"
    with open(path, "wb") as f:
        pickle.dump({"blobs": {"conv1_w": payload()}}, f, protocol=2)
    for argv in (["convert", str(path), str(tmp_path / "out.pt")],
                 ["fit", *tiny_args(synth_root, tmp_path / "run", epochs=1), "--model.pretrained", str(path)]):
        assert main(argv) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "holds a posix.system object" in err[0] and "refused" in err[0], err
    assert not marker.exists() and not (tmp_path / "out.pt").exists()


def test_convert_writes_a_gcvideo_state_dict_and_says_what_it_mapped(pyslowfast, tmp_path, capsys):
    peer = slow_r50(pyslowfast)
    source = tmp_path / "peer.pyth"
    torch.save({"model_state": peer.state_dict()}, source)
    out = tmp_path / "slow_r50_gc.pt"
    assert main(["convert", str(source), str(out), "--model", "slow_r50_gc"]) == 0
    printed = capsys.readouterr().out
    assert "pyslowfast checkpoint" in printed and "320 tensors mapped" in printed
    context = sum(".context." in k for k in create_model("slow_r50_gc", num_classes=CLASSES).state_dict())
    assert f"{context} at their initialisation (13 inserted .context. blocks)" in printed    # c3-c5's GC
    compare(peer, create_model("slow_r50_gc", num_classes=CLASSES, pretrained=str(out)))
    assert main(["convert", str(source), str(source)]) == 2                            # never over the input
    assert "one of the inputs" in capsys.readouterr().err
    assert main(["convert", str(source), str(out)]) == 2                               # nor over a file
    assert "--overwrite" in capsys.readouterr().err
    other = tmp_path / "x3d.pyth"
    torch.save({"model_state": {"s1.pathway0_stem.conv_xy.weight": torch.zeros(24, 3, 1, 3, 3)}}, other)
    assert main(["convert", str(other), str(tmp_path / "x.pt"), "--model", "x3d_m"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "pyslowfast X3D" in err[0] and "no BatchNorm on the first stage's shortcut" in err[0]
    unknown = tmp_path / "unknown.pyth"
    torch.save({"model_state": {**peer.state_dict(), "s2.pathway0_res0.branch2.d.weight": torch.zeros(1)}}, unknown)
    assert main(["convert", str(unknown), str(tmp_path / "x.pt")]) == 2
    err = capsys.readouterr().err
    assert "not in the model" in err and "s2.pathway0_res0.branch2.d.weight" in err
    assert not (tmp_path / "x.pt").exists()


def to_pyslowfast(key: str) -> str:
    """A slow_r50 key in PySlowFast's names (the inverse of the converter, for a file as PySlowFast
    would write this network; the converter's names are checked against PySlowFast's own network
    above)."""
    import re

    rules = ((r"^blocks\.0\.conv\.", "s1.pathway0_stem.conv."), (r"^blocks\.0\.norm\.", "s1.pathway0_stem.bn."),
             (r"^blocks\.5\.proj\.", "head.projection."))
    for pattern, new in rules:
        if re.match(pattern, key):
            return re.sub(pattern, new, key)
    m = re.match(r"^blocks\.(\d)\.res_blocks\.(\d+)\.(.+)$", key)
    part = {"branch1_conv": "branch1", "branch1_norm": "branch1_bn"}
    rest = m[3].split(".")
    if rest[0] in part:
        tail = ".".join([part[rest[0]], *rest[1:]])
    else:                                   # branch2.conv_a.weight -> branch2.a.weight, norm_a -> a_bn
        layer = rest[1]
        tail = ".".join(["branch2", layer[-1] if layer.startswith("conv") else f"{layer[-1]}_bn", *rest[2:]])
    return f"s{int(m[1]) + 1}.pathway0_res{m[2]}.{tail}"


def test_gc_inserted_into_converted_weights_scores_exactly_like_the_plain_network(synth_root, tmp_path, capsys):
    """The fine-tuning path on generated Kinetics-format data: a plain network trained briefly,
    written as a PySlowFast checkpoint, loaded into the GC network: its multi-view test predictions
    are the plain network's before any step (the identity at initialisation survives conversion)."""
    import csv

    from gcvideo.models.peers import pyslowfast_to_gcvideo

    views = ["--data.test_views", "2x3", "--data.test_crop_size", "32"]
    plain = tmp_path / "plain"
    assert main(["fit", *tiny_args(synth_root, plain, epochs=1, model="slow_r50"), *views]) == 0
    ckpt = torch.load(plain / "checkpoints" / "last.ckpt", weights_only=True)
    network = {k[len("model."):]: v for k, v in ckpt["state_dict"].items() if k.startswith("model.")}
    assert all(pyslowfast_to_gcvideo(to_pyslowfast(k)) == k for k in network)
    peer = tmp_path / "plain.pyth"
    torch.save({"model_state": {to_pyslowfast(k): v for k, v in network.items()}}, peer)
    assert main(["test", *tiny_args(synth_root, plain, model="slow_r50"), *views,
                 "--ckpt_path", str(plain / "checkpoints" / "last.ckpt")]) == 0
    gc = tmp_path / "gc"
    assert main(["test", *tiny_args(synth_root, gc, model="slow_r50_gc"), *views, "--model.pretrained", str(peer)]) == 0
    capsys.readouterr()
    rows = [list(csv.DictReader(open(folder / "test_2x3" / "predictions.csv"))) for folder in (plain, gc)]
    assert len(rows[0]) == len(rows[1]) > 0
    for a, b in zip(*rows):
        assert a["top1"] == b["top1"] and abs(float(a["score1"]) - float(b["score1"])) < 1e-6, (a, b)


def test_the_gc_fine_tuning_recipe_parses_onto_the_base(capsys):
    import yaml

    with pytest.raises(SystemExit):
        main(["fit", "--config", "kinetics400/base.yaml", "--config", "models/gc.yaml",
              "--config", "kinetics400/finetune_gc.yaml", "--print_config"])
    printed = yaml.safe_load(capsys.readouterr().out)
    assert printed["model"]["model"] == "slow_r50_gc" and printed["model"]["lr"] == 0.01
    assert printed["trainer"]["max_epochs"] == 40 and printed["model"]["max_epochs"] is None
    assert printed["model"]["warmup_epochs"] == 2 and printed["model"]["backbone"]["dropout"] == 0.5


def test_the_slowfast_gc_fine_tuning_recipe_parses_onto_the_base(capsys):
    import yaml

    with pytest.raises(SystemExit):
        main(["fit", "--config", "kinetics400/base.yaml", "--config", "kinetics400/finetune_slowfast_gc.yaml",
              "--print_config"])
    printed = yaml.safe_load(capsys.readouterr().out)
    assert printed["model"]["model"] == "slowfast_r50_gc" and printed["model"]["lr"] == 0.01
    assert printed["data"]["num_frames"] == 32 and printed["data"]["sampling_rate"] == 2
    assert printed["trainer"]["max_epochs"] == 40 and printed["model"]["warmup_epochs"] == 2


def test_gc_goes_into_pyslowfasts_own_network_by_rule(pyslowfast):
    """insert_blocks on PySlowFast's ResNet: a block after conv c + BN of every residual branch of
    c3-c5, state_dict keys only added, the same outputs at initialisation, still the identity after
    PySlowFast's own weight init, and gradients reach the blocks."""
    import importlib

    from gcvideo.models import bypass_blocks, insert_blocks

    init_helper = importlib.import_module("slowfast.utils.weight_init_helper")
    peer = slow_r50(pyslowfast)
    before = peer.state_dict()
    clip = torch.randn(2, 3, FRAMES, CROP, CROP, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        plain = peer([clip.clone()])
    insert_blocks(peer, "gc")
    after = peer.state_dict()
    added = set(after) - set(before)
    assert set(before) <= set(after) and all(".branch2.context." in k for k in added)
    assert {k.split(".context.")[0] for k in added} == {f"s{s}.pathway0_res{i}.branch2"
                                                       for s, n in ((3, 4), (4, 6), (5, 3)) for i in range(n)}
    with torch.no_grad():
        assert torch.equal(peer.eval()([clip.clone()]), plain)
    init_helper.init_weights(peer, 0.01, True)                     # PySlowFast's own init, again
    with torch.no_grad(), bypass_blocks(peer):
        bypassed = peer([clip.clone()])
    with torch.no_grad():
        assert torch.equal(peer([clip.clone()]), bypassed)         # the blocks are still the identity
    assert peer.load_state_dict(before, strict=False).missing_keys == sorted(added, key=list(after).index)
    peer.train()
    loss = peer([clip.clone()]).square().mean()
    loss.backward()
    last = [p for n, p in peer.named_parameters() if ".context." in n and n.endswith("transform.3.weight")]
    assert len(last) == 13 and all(p.grad is not None and p.grad.abs().sum() > 0 for p in last)


def test_gc_goes_into_pyslowfasts_slowfast_by_pathway(pyslowfast):
    """PySlowFast's SlowFastModel: ``slow:c4`` and ``fast`` (c3-c5) select blocks by pathway; the
    lateral connections keep their shapes and the outputs are unchanged at initialisation."""
    from gcvideo.models import insert_blocks

    config, builder, _ = pyslowfast
    cfg = config.get_cfg()
    cfg.MODEL.ARCH, cfg.MODEL.NUM_CLASSES, cfg.RESNET.DEPTH, cfg.SLOWFAST.ALPHA = "slowfast", CLASSES, 50, 4
    cfg.DATA.NUM_FRAMES, cfg.DATA.CROP_SIZE, cfg.DATA.INPUT_CHANNEL_NUM = 16, CROP, [3, 3]
    cfg.RESNET.NUM_BLOCK_TEMP_KERNEL = [[3, 3], [4, 4], [6, 6], [3, 3]]
    cfg.RESNET.SPATIAL_STRIDES, cfg.RESNET.SPATIAL_DILATIONS = [[1, 1], [2, 2], [2, 2], [2, 2]], [[1, 1]] * 4
    cfg.NONLOCAL.LOCATION, cfg.NONLOCAL.GROUP = [[[], []]] * 4, [[1, 1]] * 4
    cfg.NONLOCAL.POOL = [[[1, 2, 2], [1, 2, 2]]] * 4
    torch.manual_seed(0)
    peer = randomize_norms(builder.SlowFastModel(cfg)).eval()
    clips = [torch.randn(1, 3, 4, CROP, CROP), torch.randn(1, 3, 16, CROP, CROP)]
    with torch.no_grad():
        plain = peer([c.clone() for c in clips])
    before = set(peer.state_dict())
    insert_blocks(peer, "gc", where=["slow:c4", "fast"])
    ends = {k.split(".context.")[0] for k in set(peer.state_dict()) - before}
    assert ends == {f"s4.pathway0_res{i}.branch2" for i in range(6)} | {
        f"s{s}.pathway1_res{i}.branch2" for s, n in ((3, 4), (4, 6), (5, 3)) for i in range(n)}
    with torch.no_grad():
        assert torch.equal(peer([c.clone() for c in clips]), plain)
