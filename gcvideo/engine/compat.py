"""What earlier gcvideo versions wrote into checkpoints, and how it reads today: the one place for
compatibility (timm keeps its renamed models in one table the same way). Each entry says what an
earlier version stored and what it becomes; the functions below apply them, and the tests load a
gcvideo 0.1 checkpoint through them.

==========  ======================================================  ==========================================
version     stored                                                  read today as
==========  ======================================================  ==========================================
0.1         ``hyper_parameters["model_options"]``, one free dict    ``backbone`` and ``blocks`` (split_options)
0.1         GC's LayerNorm weight and bias as (C/r, 1, 1, 1)        (C/r,): the same values
            (``transform.1.weight``/``.bias``)
0.1         the optimiser's per-parameter state of those, in that   reshaped to the parameter's shape
            shape (SGD momentum, AdamW moments)
==========  ======================================================  ==========================================

A plain state dict (not a checkpoint) with the old LayerNorm shape loads too: the layer
(:class:`gcvideo.layers.global_context.ContextLayerNorm`) reshapes its own entries.
"""
import torch

def upgrade_checkpoint(checkpoint: dict, path: str) -> dict:
    """``checkpoint`` (a Lightning checkpoint dict) with everything an earlier version wrote in
    today's form: its hyper-parameters and its state dict (in place; returned)."""
    if isinstance(checkpoint.get("hyper_parameters"), dict):
        checkpoint["hyper_parameters"] = upgrade_hyper_parameters(checkpoint["hyper_parameters"], path)
    for key, value in checkpoint["state_dict"].items():
        if key.endswith((".transform.1.weight", ".transform.1.bias")) and torch.is_tensor(value) \
                and value.dim() == 4 and value.shape[1:] == (1, 1, 1):
            checkpoint["state_dict"][key] = value.reshape(-1)
    return checkpoint


def upgrade_hyper_parameters(hparams: dict, path: str) -> dict:
    """The model hyper-parameters with 0.1's ``model_options`` split into ``backbone`` and ``blocks``."""
    old = hparams.get("model_options")
    if "model_options" not in hparams:
        return hparams
    hparams = {k: v for k, v in hparams.items() if k != "model_options"}
    if old:
        from ..models.options import split_options

        try:
            backbone, blocks = split_options(old)
        except ValueError as err:
            raise ValueError(f"{path}: its model_options do not build a network: {err}") from None
        hparams["backbone"] = {**backbone.overrides(), **(hparams.get("backbone") or {})}
        hparams["blocks"] = {**blocks.overrides(), **(hparams.get("blocks") or {})}
    return hparams


def upgrade_optimizer_states(checkpoint: dict, params: list) -> None:
    """The optimiser's per-parameter state reshaped (in place) where it holds a parameter's values in
    another shape; ``params`` in ``configure_optimizers``' order."""
    for state in checkpoint.get("optimizer_states") or []:
        for index, values in (state.get("state") or {}).items():
            if not isinstance(index, int) or index >= len(params):
                continue
            shape = params[index].shape
            for name, value in values.items():
                if torch.is_tensor(value) and value.shape != shape and value.numel() == params[index].numel():
                    values[name] = value.reshape(shape)
