"""``gcvideo export``: a trained network as TorchScript, ONNX or a torch.export program, checked
against eager.

``export`` (``torch.export``, saved as ``.pt2``) traces with dynamo: possible since context blocks
are modules of the network (no forward hooks), with a dynamic batch size. ONNX still goes through
the TorchScript-based exporter (``dynamo=False``): torch's dynamo-based ONNX exporter needs the
``onnxscript`` package, which gcvideo does not depend on."""
import os
import warnings
from typing import Literal, Optional

import torch


FORMATS = {"torchscript": ".ts", "onnx": ".onnx", "export": ".pt2"}


def export_model(ckpt_path: str, fmt: str = "torchscript", out: Optional[str] = None,
                 frames: Optional[int] = None, size: Optional[int] = None, trust: bool = False,
                 overwrite: bool = False) -> dict:
    """Trace the checkpoint's network in its inference form (``fold_context_blocks``) on a
    (1, 3, frames, size, size) clip, save it, reload it, and compare its output with the
    eager, unfolded network on a fresh batch of 2 clips (the exported network takes any
    batch size)."""
    import io

    from ..files import check_outputs, check_space, check_writable, write_atomic
    from ..engine.checkpoint import load_classifier
    from ..models import fold_context_blocks

    if fmt not in FORMATS:
        raise ValueError(f"--format must be one of {list(FORMATS)}, got {fmt!r}")
    if fmt == "onnx":
        import importlib.util

        missing = [m for m in ("onnx", "onnxruntime") if importlib.util.find_spec(m) is None]
        if missing:
            raise ValueError(f"--format onnx needs {' and '.join(missing)}, which are not installed: "
                             "pip install 'gcvideo[export]'")
    out = out or os.path.splitext(ckpt_path)[0] + FORMATS[fmt]
    check_outputs(out, inputs=[ckpt_path], overwrite=overwrite)
    if (frames is not None and not 1 <= frames <= 1024) or (size is not None and not 16 <= size <= 2048):
        raise ValueError(f"--frames must be 1-1024 and --size 16-2048 (the traced clip), got {frames} and {size}")
    module, spec = load_classifier(ckpt_path, trust)
    check_writable(os.path.dirname(os.path.abspath(out)), "export", "choose another place with --out")
    check_space(os.path.dirname(os.path.abspath(out)),
                sum(t.numel() * t.element_size() for t in module.state_dict().values()) + 2 ** 20, "export")
    net = fold_context_blocks(module.model)
    frames = frames or spec.num_frames
    size = size or spec.crop_size
    example = torch.randn(1, 3, frames, size, size, generator=torch.Generator().manual_seed(0))
    check = torch.randn(2, 3, frames, size, size, generator=torch.Generator().manual_seed(1))
    with torch.no_grad(), warnings.catch_warnings():
        # the folded GC block and the 1x1x1 convs pick the cheaper of two equal computations from
        # the input's size: a constant in the trace is right for any input (only the cost differs),
        # so their warnings go
        warnings.filterwarnings("ignore", category=torch.jit.TracerWarning,
                                module=r"gcvideo\.layers\.(folded|pointwise)")
        expected = module.model.eval()(check)
        buffer = io.BytesIO()           # serialised in memory, written atomically: a full disk is one line
        if fmt == "torchscript":
            torch.jit.save(torch.jit.trace(net, example), buffer)
            write_atomic(out, buffer.getvalue())
            got = torch.jit.load(out)(check)
        elif fmt == "export":
            batch = torch.export.Dim("batch", min=2, max=4096)   # traced on 2 clips: any batch >= 2
            program = torch.export.export(net, (check,), dynamic_shapes=({0: batch},))
            torch.export.save(program, buffer)
            write_atomic(out, buffer.getvalue())
            got = torch.export.load(out).module()(torch.cat([check, check]))[:2]
        else:
            import onnxruntime

            # dynamic batch and clip size (TorchScript-based exporter: the dynamo one needs onnxscript)
            axes = {"video": {0: "batch", 2: "frames", 3: "height", 4: "width"}, "logits": {0: "batch"}}
            torch.onnx.export(net, (example,), buffer, input_names=["video"], output_names=["logits"],
                              dynamic_axes=axes, opset_version=17, dynamo=False)
            write_atomic(out, buffer.getvalue())
            session = onnxruntime.InferenceSession(out, providers=["CPUExecutionProvider"])
            got = torch.from_numpy(session.run(None, {"video": check.numpy()})[0])
    diff = float((got - expected).abs().max())
    return {"path": out, "format": fmt, "max_abs_diff": diff, "input": [1, 3, frames, size, size]}


def run_export(*, ckpt_path: str, format: Literal["torchscript", "onnx", "export"] = "torchscript",
               out: Optional[str] = None, frames: Optional[int] = None, size: Optional[int] = None,
               trust_checkpoint: bool = False, overwrite: bool = False) -> int:
    """a checkpoint's network as TorchScript, ONNX or torch.export, checked against eager

    Trace the network of a gcvideo checkpoint (folded inference form), save it, reload it and print
    the largest absolute difference from eager PyTorch on a random clip (exit 1 above 1e-3).
    export = torch.export (dynamo) program, .pt2, dynamic batch size (>= 2).

    Args:
        ckpt_path: a gcvideo checkpoint
        format: output format
        out: output file (default: next to the checkpoint, .ts, .onnx or .pt2)
        frames: clip length of the traced input (default: the data's)
        size: crop size of the traced input (default: the data's)
        trust_checkpoint: load a checkpoint holding other objects than tensors, numbers and
            strings with full pickle, which can run code (refused otherwise): trusted files only
        overwrite: replace an existing --out file (never the checkpoint itself)
    """
    result = export_model(ckpt_path, format, out, frames, size, trust_checkpoint, overwrite)
    print(f"wrote {result['path']} ({result['format']}, input {result['input']}); "
          f"max abs diff vs eager: {result['max_abs_diff']:.3g}")
    return 0 if result["max_abs_diff"] < 1e-3 else 1
