"""``DistillationTrainer``: ``transformers.Trainer`` with Trust Your Teacher distillation and optional
adversarial weight perturbation (AWP, Wu et al. 2020), for both stages or any classifier whose
``forward`` returns ``logits`` (and, for stage 2, a ``grounding_loss``, which is added undistilled).

>>> trainer = DistillationTrainer(model=student, args=args, train_dataset=with_teacher_logits,  # doctest: +SKIP
...                          data_collator=WithTeacherLogits(collator), distillation="tyt")
"""

from __future__ import annotations

import dataclasses
import inspect
from dataclasses import dataclass

import torch
from transformers import PreTrainedModel, Trainer

from .distillation import DISTILLATION_MODES, TEACHER_LOGITS, distillation_loss


@dataclass
class AWPSettings:
    """AWP from ``start_epoch`` on: weights move by ``learning_rate * |w| * g / |g|`` (per tensor),
    clipped to ``epsilon * |w|`` around the original, for one extra forward/backward, then restored."""

    start_epoch: float = 1.0
    learning_rate: float = 1e-3
    epsilon: float = 1e-2
    parameter_filter: str = "weight"  # perturb tensors whose name contains this (not LayerNorm/bias)


class AdversarialWeightPerturbation:
    """Perturbs and restores a model's weights; never leaves a change behind after :meth:`restore`."""

    def __init__(self, model: torch.nn.Module, settings: AWPSettings):
        self.model = model
        self.settings = settings
        self.backup: dict[str, torch.Tensor] = {}

    def _targets(self):
        for name, parameter in self.model.named_parameters():
            if (
                parameter.requires_grad
                and parameter.grad is not None
                and self.settings.parameter_filter in name
                and "LayerNorm" not in name
                and "embeddings" not in name
            ):
                yield name, parameter

    @torch.no_grad()
    def perturb(self) -> None:
        for name, parameter in self._targets():
            self.backup[name] = parameter.detach().clone()
            gradient_norm, weight_norm = parameter.grad.norm(), parameter.norm()
            if gradient_norm == 0 or not torch.isfinite(gradient_norm):
                continue
            step = self.settings.learning_rate * parameter.grad / gradient_norm * weight_norm
            bound = self.settings.epsilon * self.backup[name].abs()
            parameter.add_(step)
            parameter.copy_(torch.maximum(torch.minimum(parameter, self.backup[name] + bound), self.backup[name] - bound))

    @torch.no_grad()
    def restore(self) -> None:
        for name, parameter in self.model.named_parameters():
            if name in self.backup:
                parameter.copy_(self.backup[name])
        self.backup = {}


def has_teacher_logits(dataset) -> bool:
    return dataset is not None and TEACHER_LOGITS in getattr(dataset, "column_names", [])


def model_columns_only(dataset, model: torch.nn.Module, keep: tuple[str, ...] = ()):
    """``dataset`` without the columns ``model.forward`` does not take (what the Trainer's
    ``remove_unused_columns`` does), keeping ``keep``."""
    if not hasattr(dataset, "remove_columns"):
        return dataset
    accepted = set(inspect.signature(model.forward).parameters) | {"label", "label_ids", "labels", *keep}
    return dataset.remove_columns([column for column in dataset.column_names if column not in accepted])


class DistillationTrainer(Trainer):
    """A Trainer with Trust Your Teacher and AWP.

    Args:
        teacher_model: a trained teacher (kept in ``eval()``, on the accelerate device, under
            ``no_grad``); not needed when the training set carries cached ``teacher_logits``.
        distillation: ``"tyt"`` (alpha = teacher's gold probability), ``"fixed"`` (alpha =
            ``fixed_alpha``) or ``"none"`` (plain CE).
        fixed_alpha: the CE weight for ``"fixed"`` (0.5: "Half"; 0: "Full" soft distillation).
        awp: :class:`AWPSettings` to switch AWP on (the paper uses it for stage 1).
    """

    def __init__(
        self,
        *args,
        teacher_model: PreTrainedModel | None = None,
        distillation: str = "none",
        fixed_alpha: float = 0.5,
        awp: AWPSettings | None = None,
        **kwargs,
    ):
        if args:
            raise TypeError("DistillationTrainer takes keyword arguments only (model=..., args=..., train_dataset=...)")
        training_args = kwargs.get("args")
        # cached teacher logits are a dataset column the model's forward does not take: keep it with the
        # public switch (remove_unused_columns=False) and drop the other unused columns here instead
        if training_args is not None and training_args.remove_unused_columns and has_teacher_logits(kwargs.get("train_dataset")):
            kwargs["args"] = dataclasses.replace(training_args, remove_unused_columns=False)
            for name in ("train_dataset", "eval_dataset"):
                if kwargs.get(name) is not None:
                    kwargs[name] = model_columns_only(kwargs[name], kwargs["model"], keep=(TEACHER_LOGITS,))
        if distillation not in DISTILLATION_MODES:
            raise ValueError(f"distillation must be one of {DISTILLATION_MODES}, not {distillation!r}")
        if distillation != "none":  # the Trainer's public loss hook; it also scales for accumulation and devices
            if kwargs.get("compute_loss_func") is not None:
                raise ValueError("DistillationTrainer brings its own compute_loss_func (the blended TYT loss)")
            kwargs["compute_loss_func"] = self.blended_loss
        super().__init__(**kwargs)
        has_cache = self.train_dataset is not None and TEACHER_LOGITS in getattr(self.train_dataset, "column_names", [])
        if distillation != "none" and teacher_model is None and not has_cache:
            raise ValueError(f"distillation={distillation!r} needs teacher_model or a '{TEACHER_LOGITS}' column")
        self.distillation = distillation
        self.fixed_alpha = fixed_alpha
        self.teacher_model = None
        if teacher_model is not None:
            self.teacher_model = teacher_model.to(self.accelerator.device).eval()
            self.teacher_model.requires_grad_(False)
        self.awp = AdversarialWeightPerturbation(self.model, awp) if awp is not None else None
        self.awp_settings = awp
        self._batch_teacher_logits: torch.Tensor | None = None

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        """Sets aside the batch's teacher logits (the cached column, or the teacher's forward pass) for
        :meth:`blended_loss`; the Trainer does the rest."""
        inputs = dict(inputs)
        cached = inputs.pop(TEACHER_LOGITS, None)
        self._batch_teacher_logits = None
        if self.distillation != "none" and model.training:
            self._batch_teacher_logits = cached if cached is not None else self._teacher_logits(inputs)
        return super().compute_loss(model, inputs, return_outputs=return_outputs, num_items_in_batch=num_items_in_batch)

    def blended_loss(self, outputs, labels: torch.Tensor, num_items_in_batch: torch.Tensor | int | None = None) -> torch.Tensor:
        """``compute_loss_func``: the TYT / fixed blend of CE and KL in training (plain CE in
        evaluation), plus the model's grounding loss for stage 2."""
        teacher_logits = self._batch_teacher_logits
        loss = distillation_loss(
            outputs.logits, teacher_logits, labels, mode=self.distillation if teacher_logits is not None else "none",
            fixed_alpha=self.fixed_alpha, num_items_in_batch=num_items_in_batch,
        ).loss
        grounding = getattr(outputs, "grounding_loss", None)
        if grounding is not None:
            loss = loss + self.accelerator.unwrap_model(self.model).config.grounding_weight * grounding
        return loss

    @torch.no_grad()
    def _teacher_logits(self, inputs: dict) -> torch.Tensor:
        if self.teacher_model is None:
            raise ValueError(f"a batch has no cached '{TEACHER_LOGITS}' and the trainer has no teacher_model")
        teacher_inputs = {k: v for k, v in inputs.items() if k not in ("labels", "iou_targets")}
        return self.teacher_model(**teacher_inputs).logits

    def training_step(self, model, inputs, num_items_in_batch=None):
        """With AWP (from its start epoch): a second step at the perturbed weights, whose gradients add
        to the clean step's before the optimizer steps; the Trainer scales and back-propagates both."""
        loss = super().training_step(model, dict(inputs), num_items_in_batch)
        epoch = self.state.epoch or 0.0
        if self.awp is None or epoch < self.awp_settings.start_epoch:
            return loss
        self.awp.perturb()
        try:
            super().training_step(model, dict(inputs), num_items_in_batch)
        finally:
            self.awp.restore()
        return loss
