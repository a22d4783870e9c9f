"""``VideoClassifier``: the LightningModule. It wraps any registered model and owns only
the training loop: loss, metrics, optimiser and the per-iteration lr schedule."""
import logging
import warnings
from typing import Literal, Optional, Union, get_args

import pytorch_lightning as pl
import torch
from pytorch_lightning.utilities import rank_zero_info
import torch.nn.functional as F
from torchmetrics.classification import MulticlassAccuracy, MultilabelAveragePrecision

from ..data.multiview import iter_views
from ..models import channels_last_3d, create_model, feature_layers, forward_features
from ..models.options import BackboneOptions, BlockOptions
from ..models.weights import load_inflated, load_pretrained
from .inference import InferenceForm, ViewAverage, average_views, validate_command, video_scores, view_logits
from .schedule import lr_at, run_total_batch, scaled_lr, schedule_inputs

log = logging.getLogger("gcvideo")


NORM_LAYERS = (torch.nn.modules.batchnorm._NormBase, torch.nn.LayerNorm, torch.nn.GroupNorm)


def param_groups(model: torch.nn.Module, weight_decay: float, no_decay_norm_bias: bool) -> list[dict]:
    """SGD/AdamW parameter groups; with ``no_decay_norm_bias`` the weights of norm layers
    (BatchNorm, LayerNorm, GroupNorm — found by type, whatever their shape) and every
    bias get no weight decay."""
    exempt = set()
    if no_decay_norm_bias:
        for module in model.modules():
            for name, p in module.named_parameters(recurse=False):
                if isinstance(module, NORM_LAYERS) or name == "bias":
                    exempt.add(id(p))
    trainable = [p for p in model.parameters() if p.requires_grad]
    groups = [{"params": [p for p in trainable if id(p) not in exempt], "weight_decay": weight_decay}]
    if exempt:
        groups.append({"params": [p for p in trainable if id(p) in exempt], "weight_decay": 0.0})
    return groups


def batch_mixing(num_classes: int, mixup_alpha: float = 0.0, cutmix_alpha: float = 0.0):
    """torchvision v2 MixUp and/or CutMix (one per batch when both), or None when both are 0."""
    from torchvision.transforms import v2

    mixers = ([v2.MixUp(alpha=mixup_alpha, num_classes=num_classes)] if mixup_alpha > 0 else []) + \
        ([v2.CutMix(alpha=cutmix_alpha, num_classes=num_classes)] if cutmix_alpha > 0 else [])
    return None if not mixers else mixers[0] if len(mixers) == 1 else v2.RandomChoice(mixers)


def mix_batch(mix, video: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mix a (N, 3, T, H, W) batch (the same box / weight for every frame of a clip): the mixed
    clips and their soft targets (N, classes)."""
    from torchvision import tv_tensors

    mixed, target = mix(tv_tensors.Video(video.transpose(1, 2)), labels)
    return mixed.as_subclass(torch.Tensor).transpose(1, 2), target


Optimizer = Literal["sgd", "adamw"]


def topk_hits(logits: torch.Tensor, labels: torch.Tensor, k: int) -> torch.Tensor:
    """(top-1 hits, top-k hits, clips) of a batch as one float tensor on the logits' device (no
    host read: a training step never waits for the device because of its accuracy). Multi-hot
    ``labels`` (multi-label): a hit is a ranked class that is one of the clip's."""
    top = logits.topk(k, dim=-1).indices
    hit = labels.gather(-1, top) > 0 if labels.dim() == 2 else top == labels.unsqueeze(-1)
    return torch.stack([hit[:, 0].sum(), hit.any(-1).sum(), torch.ones_like(hit[:, 0]).sum()]).float()


class VideoClassifier(pl.LightningModule):
    """A video network trained with the paper's recipe and evaluated with the multi-view protocol.

    Args:
        model: a registered model name (``gcvideo models``).
        backbone: changes to that model's network (``depths``, ``width``, ``dropout``, ...; see
            :class:`gcvideo.models.options.BackboneOptions`); unset fields keep the model's own.
        blocks: changes to its context blocks (``block``, ``where``, ``position``, ``reduction``,
            ``pooling``, ...; :class:`~gcvideo.models.options.BlockOptions`). Config files merge
            these field by field: a base sets the backbone, an ablation only ``blocks.where``.
        num_classes: linked from the data by the CLI.
        classes: class names in index order (linked from the data; stored in checkpoints).
        multi_label: each video has a set of classes (Charades; linked from the data): multi-hot
            targets, binary cross-entropy on each class's logit, sigmoid probabilities, mAP
            (torchmetrics, macro over the classes with positives) in validation and test, and
            ``best.ckpt`` by ``val/mAP``.
        pretrained: local pytorchvideo/Lightning checkpoint of a (plain) Slow R50.
        inflate_from: local torchvision ResNet-50 2D state_dict, inflated to 3D.
        inflate_mode: ``center`` or ``mean`` (see :func:`gcvideo.models.weights.load_inflated`).
        optimizer: ``sgd`` (the paper's recipe: momentum, Nesterov) or ``adamw``.
        lr: base lr for ``reference_batch`` clips per step, scaled linearly with the
            total batch (per-device batch x devices x nodes x accumulation).
        reference_batch: the total batch ``lr`` is given for (the recipe's 64).
        momentum: SGD momentum.
        weight_decay: weight decay (SGD: L2; AdamW: decoupled).
        warmup_epochs: epochs of linear warm-up from ``warmup_start_lr`` to ``lr`` (fractions allowed).
        warmup_start_lr: lr at the start of the warm-up (scaled like ``lr``).
        max_epochs: where the cosine reaches ``final_lr`` (default: trainer.max_epochs).
        final_lr: lr at the end of the cosine schedule.
        no_decay_norm_bias: no weight decay on norm weights and biases.
        label_smoothing: cross-entropy label smoothing.
        channels_last: run the network in channels_last_3d memory format.
        view_batch: views forwarded together in multi-view testing (bounds memory).
        view_average: how a video's views make its scores: their probabilities averaged
            (``softmax``, the paper; sigmoid probabilities for multi-label), the probabilities of their
            averaged ``logits``, or each class's ``max`` over the views (PySlowFast's Charades).
        step_seed: the global RNG (dropout, ...) is reseeded from (step_seed, step, rank) before
            every step, so a resumed run continues exactly like an uninterrupted one.
        mixup_alpha: MixUp's alpha, 0 = off (the paper's recipe has none): torchvision.transforms.v2
            MixUp (one of MixUp / CutMix per batch when both are on) with soft-target cross-entropy;
            train top-1/top-5 count the class with the larger share of each mixed clip. Draws
            come from the per-step seed, so resumed runs repeat them.
        cutmix_alpha: CutMix's alpha, 0 = off (as ``mixup_alpha``).
        compile: ``torch.compile`` the network for training and evaluation: ``true`` / ``default``,
            ``reduce-overhead`` (CUDA graphs) or ``max-autotune``; ``false`` runs eagerly. The
            network is compiled in place (``nn.Module.compile``), so checkpoints keep their keys and
            load with or without it.
        compile_dynamic: torch.compile's ``dynamic``: ``null`` lets it decide (it recompiles once for
            a new batch or clip size, then marks it dynamic), ``true`` / ``false`` force it.
        activation_checkpointing: recompute the residual blocks' activations in the backward pass
            instead of keeping them (less memory, more time): ``true`` = every stage c2-c5, or a
            list of stages (``[c4, c5]``); the same gradients and checkpoints as without.
    """

    def __init__(self, model: str = "slow_r50_gc", backbone: BackboneOptions = BackboneOptions(),
                 blocks: BlockOptions = BlockOptions(),
                 num_classes: int = 400, classes: Optional[list[str]] = None, multi_label: bool = False,
                 pretrained: Optional[str] = None, inflate_from: Optional[str] = None,
                 inflate_mode: Literal["center", "mean"] = "center", optimizer: Optimizer = "sgd", lr: float = 0.1,
                 reference_batch: int = 64,
                 momentum: float = 0.9, weight_decay: float = 1e-4, warmup_epochs: float = 34.0,
                 warmup_start_lr: float = 0.01, max_epochs: Optional[int] = None, final_lr: float = 0.0,
                 no_decay_norm_bias: bool = False, label_smoothing: float = 0.0,
                 channels_last: bool = False, view_batch: int = 30, view_average: ViewAverage = "softmax",
                 step_seed: int = 0, mixup_alpha: float = 0.0, cutmix_alpha: float = 0.0,
                 compile: Union[bool, Literal["default", "reduce-overhead", "max-autotune"]] = False,
                 compile_dynamic: Optional[bool] = None,
                 activation_checkpointing: Union[bool, list[str]] = False) -> None:
        super().__init__()
        for name, value in [("lr", lr), ("weight_decay", weight_decay), ("warmup_epochs", warmup_epochs),
                            ("warmup_start_lr", warmup_start_lr), ("momentum", momentum)]:
            if value < 0:
                raise ValueError(f"model.{name} must be >= 0, got {value}")
        if lr == 0:
            raise ValueError("model.lr must be > 0")
        if optimizer not in get_args(Optimizer):       # the command line checks the Literals; Python callers here
            raise ValueError(f"model.optimizer must be 'sgd' or 'adamw', got {optimizer!r}")
        if not 0 <= label_smoothing < 1:
            raise ValueError(f"model.label_smoothing must be in [0, 1), got {label_smoothing}")
        if view_average not in get_args(ViewAverage):
            raise ValueError(f"model.view_average must be one of {list(get_args(ViewAverage))}, got {view_average!r}")
        if view_batch < 1:
            raise ValueError(f"model.view_batch must be >= 1, got {view_batch}")
        if mixup_alpha < 0 or cutmix_alpha < 0:
            raise ValueError(f"model.mixup_alpha and model.cutmix_alpha must be >= 0, got {mixup_alpha}, {cutmix_alpha}")
        if multi_label and (mixup_alpha or cutmix_alpha or label_smoothing):
            raise ValueError("model.mixup_alpha, model.cutmix_alpha and model.label_smoothing are for single-label "
                             "data; these lists are multi-label")
        if classes is not None and len(classes) != num_classes:
            raise ValueError(f"{len(classes)} class names for num_classes={num_classes}")
        backbone, blocks = BackboneOptions.of(backbone), BlockOptions.of(blocks)
        # checkpoints store plain dicts (save_hyperparameters reads these locals)
        backbone, blocks = backbone.overrides(), blocks.overrides()
        self.save_hyperparameters()
        self.model = create_model(model, num_classes=num_classes, **backbone, **blocks)
        if pretrained:      # one line: the format found, what was mapped, what stays at its initialisation
            load_pretrained(self.model, pretrained, say=rank_zero_info)
        if inflate_from:
            load_inflated(self.model, inflate_from, inflate_mode)
        if channels_last:
            channels_last_3d(self.model)
        if activation_checkpointing:
            from ..models.checkpointing import checkpoint_blocks

            checkpoint_blocks(self.model, None if activation_checkpointing is True else activation_checkpointing)
        k = min(5, num_classes)
        # validation: torchmetrics (exact over ranks); training: hit counts on the device (torchmetrics'
        # one-hot encoding reads the labels' range on the host at every step); test: per video
        self.metrics = torch.nn.ModuleDict({
            "val_mAP": MultilabelAveragePrecision(num_classes, average=None)} if multi_label else {
            f"val_{name}": MulticlassAccuracy(num_classes, top_k=top_k, average="micro")
            for name, top_k in (("top1", 1), ("top5", k))})
        self.top_k = k
        self._train_hits: Optional[torch.Tensor] = None     # (top-1 hits, top-k hits, clips) this epoch
        self.inference = InferenceForm()                 # the folded network during evaluation
        self._compiled = False
        self.mix = batch_mixing(num_classes, mixup_alpha, cutmix_alpha)

    def on_train_start(self) -> None:
        sampler = getattr(self.trainer.train_dataloader, "sampler", None)
        if isinstance(sampler, torch.utils.data.DistributedSampler):
            # Lightning wrapped the data module's own rank-splitting sampler: each rank would see 1/ranks^2
            raise ValueError("gcvideo splits videos over ranks itself: create the Trainer with "
                             "use_distributed_sampler=False (the gcvideo command line does)")

    def on_train_batch_start(self, batch: dict, batch_idx: int) -> None:
        # Dropout & co. draw from (step_seed, step, rank) only: a resumed run repeats exactly
        # what an uninterrupted one does, whenever Lightning creates its iterators.
        torch.manual_seed(hash((self.hparams.step_seed, self.global_step, self.global_rank)) % 2 ** 63)

    def compile_options(self) -> Optional[dict]:
        """``torch.compile`` keywords of ``model.compile`` (None: eager)."""
        mode = self.hparams.get("compile", False)
        if mode is False or mode is None:
            return None
        return {"mode": None if mode in (True, "default") else mode, "dynamic": self.hparams.get("compile_dynamic")}

    def configure_model(self) -> None:
        options = self.compile_options()
        if options is not None and not self._compiled:
            self.model.compile(**options)              # in place: once, whichever trainer calls this
            self._compiled = True

    def forward(self, video: torch.Tensor) -> torch.Tensor:
        return self.model(video)

    def batch_video(self, batch: dict) -> torch.Tensor:
        """The batch's clips as the network takes them: uint8 clips from the loaders are
        normalised here, on the device; float clips (multi-view, callers' own) pass as they are."""
        video = batch["video"]
        if video.dtype == torch.uint8:
            from ..data.transforms import normalize_clips

            video = normalize_clips(video)
        if self.hparams.channels_last:
            video = video.contiguous(memory_format=torch.channels_last_3d)
        return video

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        target = batch["label"]
        if batch["video"].dim() == 6:           # repeated augmentation: (videos, K, 3, T, H, W) -> clips
            batch, target = {**batch, "video": batch["video"].flatten(0, 1)}, target.flatten(0, 1)   # (videos, K)
        video = self.batch_video(batch)
        if self.mix is not None:
            video, target = mix_batch(self.mix, video, target)       # soft targets, rows sum to 1
        logits = self(video)
        loss = self.loss(logits, target)
        n = len(target)
        hits = topk_hits(logits.detach(), target if target.dim() == 1 or self.multi_label else target.argmax(-1),
                         self.top_k)
        self._train_hits = hits if self._train_hits is None else self._train_hits + hits
        # read on the host only at logging steps (and by a progress bar, at its refresh rate)
        self.log("train/top1_step", hits[0] / n, prog_bar=True, batch_size=n)
        self.log("train/top5_step", hits[1] / n, batch_size=n)
        self.log("train/loss", loss, prog_bar=True, batch_size=n)
        self.log("train/lr", self.optimizers().param_groups[0]["lr"], prog_bar=False, batch_size=n)
        self.log("train/replaced_videos", batch["replaced"].float().sum(), reduce_fx="sum", batch_size=n)
        return loss

    def on_train_epoch_start(self) -> None:
        self._train_hits = None

    def on_train_epoch_end(self) -> None:
        if self._train_hits is None:
            return
        hits = self.trainer.strategy.reduce(self._train_hits, reduce_op="sum")      # all ranks' clips
        self.log("train/top1_epoch", hits[0] / hits[2], sync_dist=False)
        self.log("train/top5_epoch", hits[1] / hits[2], sync_dist=False)

    @property
    def multi_label(self) -> bool:
        return bool(self.hparams.get("multi_label", False))

    def loss(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Cross-entropy (soft targets after MixUp/CutMix), or per-class binary cross-entropy on
        multi-hot targets (multi-label)."""
        if self.multi_label:
            return F.binary_cross_entropy_with_logits(logits.float(), target.float())
        return F.cross_entropy(logits, target, label_smoothing=self.hparams.label_smoothing)

    def _update(self, stage: str, logits: torch.Tensor, labels: torch.Tensor) -> None:
        if self.multi_label:          # per-class AP over the epoch (sigmoid inside), its mean at the end
            self.metrics[f"{stage}_mAP"].update(logits.detach().float(), labels.int())
            return
        for name in ("top1", "top5"):
            metric = self.metrics[f"{stage}_{name}"]
            metric(logits.detach(), labels)      # accumulates over the epoch, synced over ranks
            self.log(f"{stage}/{name}", metric, on_step=False, on_epoch=True, batch_size=len(labels),
                     prog_bar=name == "top1")

    def _video_level(self, stage: str) -> bool:
        """Test and the ``validate`` command report per video; fit-time validation does not."""
        return stage == "test" or validate_command(self.trainer)

    def _eval_step(self, stage: str, batch: dict) -> Optional[list[dict]]:
        """Fit-time validation: loss and metrics logged, nothing returned. Test and the ``validate``
        command: the batch's video-level records (index, video_id, path, label, ok, reason, scores
        and, for many views, the fewer-view ``subsets``), which
        :class:`~gcvideo.engine.report.VideoReports` gathers from the step's outputs."""
        if "video" not in batch:
            return [self._multiview_step(batch)]   # one video, many views (or a failure)
        ok = batch["ok"]
        self.log(f"{stage}/failed_videos", (~ok).float().sum(), reduce_fx="sum", sync_dist=True,
                 batch_size=len(ok))
        logits = self.infer(self.batch_video(batch)[ok]) if ok.any() else None
        if self._video_level(stage):
            probs = iter(self.average_views(logits.unsqueeze(1)) if logits is not None else [])
            return [{"index": int(batch["index"][i]), "video_id": batch["video_id"][i], "path": batch["path"][i],
                     "label": self._video_label(batch["label"][i]), "ok": bool(ok[i]), "reason": batch["reason"][i],
                     "scores": next(probs).tolist() if ok[i] else None} for i in range(len(ok))]
        if logits is None:
            return None
        labels = batch["label"][ok]
        loss = F.binary_cross_entropy_with_logits(logits.float(), labels.float()) if self.multi_label \
            else F.cross_entropy(logits, labels)
        self.log(f"{stage}/loss", loss, sync_dist=True, prog_bar=stage == "val", batch_size=len(labels))
        self._update(stage, logits, labels)

    def _video_label(self, label: torch.Tensor):
        """A video's label as its prediction record keeps it: the class index, or (multi-label) the
        list of its classes."""
        return label.nonzero().flatten().tolist() if self.multi_label else int(label)

    @property
    def class_names(self) -> list[str]:
        """Class names in index order (the checkpoint's; "0", "1", ... when it has none)."""
        return list(self.hparams.classes or [str(i) for i in range(self.hparams.num_classes)])

    def average_views(self, logits: torch.Tensor) -> torch.Tensor:
        """(videos, views, classes) -> (videos, classes) probabilities, averaged over views as
        ``view_average`` says (:func:`gcvideo.engine.inference.average_views`)."""
        return average_views(logits, self.hparams.view_average, self.multi_label)

    def _multiview_step(self, sample: dict) -> dict:
        scores, subsets = None, None
        if sample["ok"]:
            forward = lambda views: self.infer(self.batch_video({"video": views}))  # noqa: E731 (channels_last)
            logits = view_logits(forward, sample["frames"], sample["boxes"], self.hparams.view_batch, self.device)
            scores, subsets = video_scores(logits, sample["frames"].shape[0], len(sample["boxes"]),
                                           self.hparams.view_average, self.multi_label)
        return ({k: sample[k] for k in ("index", "video_id", "path", "label", "ok", "reason")}
                | {"scores": scores, "subsets": subsets})

    def validation_step(self, batch: dict, batch_idx: int) -> Optional[list[dict]]:
        return self._eval_step("val", batch)

    def test_step(self, batch: dict, batch_idx: int) -> list[dict]:
        return self._eval_step("test", batch)

    def infer(self, video: torch.Tensor) -> torch.Tensor:
        """Logits at inference: the folded network (``fold_context_blocks``) during
        validation and test, the network itself otherwise."""
        return (self.inference.net or self.model)(video)

    def on_validation_epoch_start(self) -> None:
        self.inference.make(self.model, self.compile_options())

    def on_test_epoch_start(self) -> None:
        self.inference.make(self.model, self.compile_options())

    def on_predict_epoch_start(self) -> None:
        self.inference.make(self.model)                  # folded; eager: one pass over each video
        self._feature_layers = feature_layers(self.inference.net)

    def predict_step(self, sample: dict, batch_idx: int) -> dict:
        """One decoded video (a :class:`~gcvideo.data.multiview.MultiViewDataset` item) -> its class
        probabilities (the views combined as ``view_average`` says) and its features averaged over the
        views (``{layer: vector}`` of :func:`gcvideo.models.forward_features`, every layer the network
        has); both None when the video could not be read."""
        probabilities, features = None, None
        if sample["ok"]:
            parts, logits = zip(*[forward_features(self.inference.net, self.batch_video({"video": views}),
                                                   self._feature_layers)
                                  for views in iter_views(sample["frames"], sample["boxes"], self.hparams.view_batch)])
            features = {layer: torch.cat([p[layer] for p in parts]).mean(0).float().cpu()
                        for layer in self._feature_layers}
            probabilities = self.average_views(torch.cat(logits).unsqueeze(0))[0].cpu()
        return {"index": sample["index"], "ok": sample["ok"], "reason": sample["reason"],
                "probabilities": probabilities, "features": features}

    def on_predict_epoch_end(self) -> None:
        self.inference.clear()

    def on_validation_epoch_end(self) -> None:
        metric = self.metrics["val_mAP"] if "val_mAP" in self.metrics else None
        if metric is not None and metric.update_count:
            with warnings.catch_warnings():          # a class without positives in a small val split
                warnings.filterwarnings("ignore", "No positive samples found")
                per_class = metric.compute()           # synced over ranks; 0 for a class without positives
            self.log("val/mAP", per_class[per_class > 0].mean() if (per_class > 0).any() else per_class.sum(),
                     prog_bar=True, sync_dist=False)   # mean over the classes with positives (PySlowFast's mAP)
            metric.reset()

    def on_validation_end(self) -> None:
        self.inference.clear()

    def on_test_end(self) -> None:
        self.inference.clear()

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        """An earlier version's optimiser state in today's parameter shapes (:mod:`gcvideo.engine.compat`)."""
        from .compat import upgrade_optimizer_states

        hp = self.hparams
        upgrade_optimizer_states(checkpoint, [p for group in param_groups(self.model, hp.weight_decay,
                                                                         hp.no_decay_norm_bias)
                                              for p in group["params"]])

    # --- optimisation ---------------------------------------------------------------
    def schedule(self) -> dict:
        """The total batch and the length of this run's lr schedule (:func:`schedule_inputs`)."""
        return schedule_inputs(self.hparams.max_epochs, self.trainer, self.trainer.datamodule)

    def total_batch(self) -> int:
        return run_total_batch(self.trainer, self.trainer.datamodule)

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        if self.trainer is not None and self.trainer.datamodule is not None and self.trainer.state.fn == "fit":
            checkpoint["gcvideo_schedule"] = self.schedule()

    def configure_optimizers(self):
        hp = self.hparams
        groups = param_groups(self.model, hp.weight_decay, hp.no_decay_norm_bias)
        total = self.total_batch()
        base, start, final = (scaled_lr(v, total, hp.reference_batch) for v in (hp.lr, hp.warmup_start_lr, hp.final_lr))
        if hp.optimizer == "sgd":
            optimizer = torch.optim.SGD(groups, lr=base, momentum=hp.momentum, nesterov=True)
        else:
            optimizer = torch.optim.AdamW(groups, lr=base)
        max_epochs = self.schedule()["max_epochs"]
        if not max_epochs or max_epochs < 0:
            raise ValueError("set trainer.max_epochs (or model.max_epochs) for the cosine schedule")
        if max_epochs > self.trainer.max_epochs > 0 and self.trainer.is_global_zero:
            log.info("the lr schedule spans %d epochs (model.max_epochs); this run stops after %d: continue it "
                     "with --trainer.max_epochs %d --ckpt_path last", max_epochs, self.trainer.max_epochs, max_epochs)
        steps_per_epoch = max(1, self.trainer.estimated_stepping_batches // max(1, self.trainer.max_epochs))
        warmup = min(hp.warmup_epochs, max_epochs)
        schedule = lambda step: lr_at(step / steps_per_epoch, base, max_epochs, warmup, start, final) / base  # noqa: E731
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)
        if self.trainer.is_global_zero:
            log.info("lr %.4g for a total batch of %d (%.4g per %d clips), %d steps/epoch",
                     base, total, hp.lr, hp.reference_batch, steps_per_epoch)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}
