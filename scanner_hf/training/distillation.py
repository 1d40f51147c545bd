"""Trust Your Teacher (the paper's section 3.3): per-item ``alpha * CE(gold) + (1 - alpha) * KL(teacher || student)``.

``alpha`` is the teacher's probability of the gold label (``tyt``), a constant (``fixed``; 0.5 is the
paper's "Half", 0 its "Full" soft distillation), or 1 (``none``: plain cross-entropy). Items are
tokens for stage 1 (``-100`` labels ignored) and candidates for stage 2.

Teacher logits can be computed once and cached as a dataset column (:func:`add_teacher_logits`),
the fast path: the student's epochs then never run the teacher.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import datasets
import torch
from torch.nn import functional
from torch.utils.data import DataLoader
from transformers import PreTrainedModel

DISTILLATION_MODES = ("tyt", "fixed", "none")
TEACHER_LOGITS = "teacher_logits"


@dataclass
class DistillationLoss:
    loss: torch.Tensor
    alpha: torch.Tensor  # per kept item
    labels: torch.Tensor  # per kept item


def distillation_loss(
    student_logits: torch.Tensor,
    teacher_logits: torch.Tensor | None,
    labels: torch.Tensor,
    *,
    mode: str = "tyt",
    fixed_alpha: float = 0.5,
    num_items_in_batch: torch.Tensor | int | None = None,
    ignore_index: int = -100,
) -> DistillationLoss:
    """The per-item blended loss, summed and divided by ``num_items_in_batch`` (the count over the
    whole accumulated batch, which makes gradient accumulation exact) or averaged when it is None."""
    if mode not in DISTILLATION_MODES:
        raise ValueError(f"distillation mode must be one of {DISTILLATION_MODES}, not {mode!r}")
    classes = student_logits.shape[-1]
    flat_labels = labels.reshape(-1)
    keep = flat_labels != ignore_index
    gold = flat_labels[keep]
    log_student = functional.log_softmax(student_logits.reshape(-1, classes)[keep].float(), dim=-1)
    cross_entropy = -log_student.gather(1, gold[:, None]).squeeze(1)
    if mode == "none":
        alpha = torch.ones_like(cross_entropy)
        per_item = cross_entropy
    else:
        if teacher_logits is None:
            raise ValueError(f"distillation mode {mode!r} needs teacher logits")
        log_teacher = functional.log_softmax(teacher_logits.reshape(-1, classes)[keep].float().detach(), dim=-1)
        teacher = log_teacher.exp()
        kl = (teacher * (log_teacher - log_student)).sum(-1)
        alpha = teacher.gather(1, gold[:, None]).squeeze(1) if mode == "tyt" else torch.full_like(kl, fixed_alpha)
        per_item = alpha * cross_entropy + (1 - alpha) * kl
    if num_items_in_batch is None:
        loss = per_item.mean() if per_item.numel() else per_item.sum()
    else:
        if torch.is_tensor(num_items_in_batch):
            num_items_in_batch = num_items_in_batch.to(per_item.device)
        loss = per_item.sum() / num_items_in_batch
    return DistillationLoss(loss, alpha.detach(), gold)


@torch.no_grad()
def teacher_logits_for(
    teacher: PreTrainedModel,
    dataset: datasets.Dataset,
    collator: Callable,
    *,
    batch_size: int = 64,
) -> list[list]:
    """The teacher's logits for every row, in order: ``(length, classes)`` per row for token models
    (the row's own length, no padding), ``(classes,)`` per row for stage 2."""
    columns = [name for name in dataset.column_names if name not in ("words", TEACHER_LOGITS)]
    loader = DataLoader(dataset.select_columns(columns), batch_size=batch_size, collate_fn=collator)
    was_training = teacher.training
    teacher.eval()
    rows: list[list] = []
    try:
        for batch in loader:
            inputs = {k: v.to(teacher.device) for k, v in batch.items() if k not in ("labels", "iou_targets")}
            logits = teacher(**inputs).logits.float().cpu()
            if logits.dim() == 3:  # tokens (row length: its tokens) or packed candidates (its candidates)
                lengths = (batch["candidate_ids"].amax(-1) if "candidate_ids" in batch else batch["attention_mask"].sum(-1)).tolist()
                rows += [logits[row, :length].tolist() for row, length in enumerate(lengths)]
            else:
                rows += logits.tolist()
    finally:
        teacher.train(was_training)
    return rows


def add_teacher_logits(
    teacher: PreTrainedModel, dataset: datasets.Dataset, collator: Callable, *, batch_size: int = 64
) -> datasets.Dataset:
    """``dataset`` with a ``teacher_logits`` column (computed once; cache the result with
    ``save_to_disk`` to reuse it across runs)."""
    if TEACHER_LOGITS in dataset.column_names:
        dataset = dataset.remove_columns(TEACHER_LOGITS)
    return dataset.add_column(TEACHER_LOGITS, teacher_logits_for(teacher, dataset, collator, batch_size=batch_size))


@dataclass
class WithTeacherLogits:
    """Wraps a collator: pads cached ``teacher_logits`` to the batch (zeros where labels are padding)."""

    collator: Callable

    def __call__(self, features: list[dict]) -> dict[str, torch.Tensor]:
        cached = [feature.pop(TEACHER_LOGITS, None) for feature in features]
        batch = self.collator(features)
        if any(logits is None for logits in cached):
            return batch
        rows = [torch.tensor(logits, dtype=torch.float) for logits in cached]
        if rows[0].dim() == 1:
            batch[TEACHER_LOGITS] = torch.stack(rows)
        else:
            width = batch["labels"].shape[1] if "labels" in batch else batch["input_ids"].shape[1]
            padded = torch.zeros(len(rows), width, rows[0].shape[-1])
            for index, logits in enumerate(rows):
                padded[index, : logits.shape[0]] = logits
            batch[TEACHER_LOGITS] = padded
        return batch
