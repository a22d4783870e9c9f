"""``gcvideo convert IN OUT``: a peer's checkpoint as a gcvideo network's state_dict."""
import io


def convert_weights(source: str, out: str, model: str = "slow_r50", overwrite: bool = False) -> dict:
    """Read ``source`` (any format :func:`gcvideo.models.weights.read_weights` knows), load it into
    the registered ``model`` (its class count taken from the file's head; inserted blocks and a head
    of another shape stay at their initialisation) and write the network's state_dict to ``out``."""
    import torch

    from ..files import check_outputs, write_atomic
    from ..models import create_model
    from ..models.peers import POOL_INPUT_MARK, align_to_model, needs_pooled_input
    from ..models.weights import head_keys, load_pretrained, read_weights

    check_outputs(out, inputs=[source], overwrite=overwrite)
    fmt, state = read_weights(source)
    pooled = needs_pooled_input(state, fmt)
    options = {"pool_input": True} if pooled else {}      # PySlowFast's non-local blocks
    probe = create_model(model, num_classes=2, **options)
    state = align_to_model(state, probe, fmt)
    head = head_keys(probe)
    num_classes = int(state[head[0]].shape[0]) if head and head[0] in state else 400
    network = create_model(model, num_classes=num_classes, **options)
    kept = load_pretrained(network, state, name=source)
    buffer = io.BytesIO()
    # the file says how its non-local blocks pool, so a model that pools otherwise refuses it
    torch.save({"state_dict": network.state_dict(), POOL_INPUT_MARK: True} if pooled else network.state_dict(), buffer)
    write_atomic(out, buffer.getvalue())
    return {"format": fmt, "mapped": len(state), "initialised": kept, "classes": num_classes, "path": out}


def run_convert(in_: str, out: str, /, *, model: str = "slow_r50", overwrite: bool = False) -> int:
    """a PySlowFast (.pyth, Caffe2 .pkl), mmaction2 (.pth) or pytorchvideo checkpoint as gcvideo weights

    Read IN (the format is found from its content: PySlowFast .pyth `model_state`, PySlowFast's
    Caffe2 model-zoo .pkl `blobs` -- read without running code: a pickle holding anything but numpy
    arrays is refused --, mmaction2 .pth `state_dict` with `backbone.`/`cls_head.` names, a
    pytorchvideo or gcvideo state_dict), rename its tensors to gcvideo's,
    load them into --model (a file of another network is refused naming the keys that do not fit)
    and write that network's state_dict to OUT, for `--model.pretrained OUT` or
    `create_model(NAME, pretrained=OUT)`. Blocks the file does not have (GC, NL, SE inserted into a
    plain network) stay at their initialisation, the identity for GC. Covered: PySlowFast's
    slowonly, i3d and slowfast R50 (slow_r50, i3d_r50, slowfast_r50 and their GC/SE variants; its
    non-local R50 into slow_r50_nl5 built with --model.blocks.pool_input true) and mmaction2's
    ResNet3dSlowOnly and I3D R50. X3D and mmaction2's SlowFast are refused (another network).

    Args:
        in_: the checkpoint to read
        out: the file to write (never IN; an existing file only with --overwrite)
        model: the registered network to load it into (`gcvideo models`)
        overwrite: replace an existing OUT
    """
    from ..models.weights import describe_kept

    result = convert_weights(in_, out, model, overwrite)
    print(f"{in_}: a {result['format']} checkpoint, {result['mapped']} tensors mapped to {model} "
          f"({result['classes']} classes); {describe_kept(result['initialised'])}; wrote {out}")
    return 0
