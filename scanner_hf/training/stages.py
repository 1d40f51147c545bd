"""Training of SCANNER's two stages (and the token-classification baseline) with ``transformers.Trainer``.

Stage 1 and the baseline learn first-sub-word token labels and differ only in the label set (untyped
O/B/I vs typed BIO); stage 2 learns one label per candidate prompt plus per-object IoU.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace

import datasets
import torch
from transformers import (
    DataCollatorForTokenClassification,
    PreTrainedModel,
    PreTrainedTokenizerBase,
    Trainer,
    TrainingArguments,
)

from ..configuration import SPAN_TAGS
from ..evaluation.metrics import entity_scores, logits_to_tags, make_compute_metrics
from ..modeling_entity_recognizer import ScannerEntityRecognizer
from ..modeling_span_detector import ScannerSpanDetector
from ..processing_scanner import Candidate, Stage2Collator
from ..prompting import PromptBuilder
from ..providers import KnowledgeProvider
from ..tags import split_tag
from ..tokenization import encode_words_for_training, pad_word_features
from .distillation import TEACHER_LOGITS, WithTeacherLogits, add_teacher_logits
from .distillation_trainer import AWPSettings, DistillationTrainer
from .stage2_data import encode_candidates

logger = logging.getLogger(__name__)


def label_mapper(source_names: list[str], target: str | dict[str, int]) -> Callable[[list[int]], list[int]]:
    """Map ``ner_tags`` ids to ``"typed"`` BIO ids (unchanged), ``"untyped"`` O/B/I ids, or the ids of
    a model's ``label2id`` (a dict) by tag name."""
    if isinstance(target, dict):
        unknown = sorted(set(source_names) - set(target))
        if unknown:
            raise ValueError(f"tags {unknown} are not among the model's labels {list(target)}")
        ids = [target[name] for name in source_names]
        return lambda tag_ids: [ids[tag_id] for tag_id in tag_ids]
    if target == "typed":
        return list
    if target != "untyped":
        raise ValueError(f"target must be 'typed', 'untyped' or a label2id mapping, not {target!r}")
    untyped = [SPAN_TAGS.index(split_tag(name)[0]) for name in source_names]
    return lambda tag_ids: [untyped[tag_id] for tag_id in tag_ids]


def encode_token_classification(
    dataset: datasets.Dataset,
    tokenizer: PreTrainedTokenizerBase,
    *,
    target: str | dict[str, int],
    max_length: int,
    word_shapes: bool = False,
) -> datasets.Dataset:
    """Tokenise a split for token classification (``target`` ``"typed"``, ``"untyped"`` or a label2id, see
    :func:`label_mapper`; with ``word_shapes``, a ``word_shape_ids`` column). Rows keep their words in ``words``; the
    Trainer drops that column before the model sees it.
    """
    to_target = label_mapper(dataset.features["ner_tags"].feature.names, target)

    def encode(batch: dict) -> dict:
        labels = [to_target(tag_ids) for tag_ids in batch["ner_tags"]]
        return dict(encode_words_for_training(tokenizer, batch["tokens"], labels, max_length, word_shapes=word_shapes))

    return dataset.map(encode, batched=True, remove_columns=dataset.column_names, desc="tokenising")


class TokenClassificationCollator(DataCollatorForTokenClassification):
    """``DataCollatorForTokenClassification`` that also pads per-word feature columns (``word_shape_ids``)
    with 0 when rows have them."""

    feature_columns = ("word_shape_ids",)

    def __call__(self, features, return_tensors=None):
        columns = [name for name in self.feature_columns if name in features[0]]
        if not columns:
            return super().__call__(features, return_tensors)
        features = [dict(feature) for feature in features]
        rows = {name: [feature.pop(name) for feature in features] for name in columns}
        batch = super().__call__(features, return_tensors)
        for name in columns:
            batch[name] = pad_word_features(rows[name], batch["input_ids"].shape[1], self.tokenizer.padding_side)
        return batch


def token_classification_trainer(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    args: TrainingArguments,
    *,
    train_dataset: datasets.Dataset,
    eval_dataset: datasets.Dataset | None = None,
    seen_entities: Iterable[str] | None = None,
    trainer_class: type[Trainer] = Trainer,
    **trainer_kwargs,
) -> Trainer:
    """A Trainer for encoded splits from :func:`encode_token_classification`, with entity-level
    ``compute_metrics`` (overall, per type, span-only, seen/unseen) on ``eval_dataset``."""
    compute_metrics = None
    if eval_dataset is not None:
        compute_metrics = make_compute_metrics(
            model.config.id2label, tokens=eval_dataset["words"], seen_entities=seen_entities
        )
    return trainer_class(
        model=model,
        args=args,
        train_dataset=train_dataset,
        eval_dataset=eval_dataset,
        data_collator=TokenClassificationCollator(tokenizer),
        processing_class=tokenizer,
        compute_metrics=compute_metrics,
        **trainer_kwargs,
    )


def score_token_classifier(
    trainer: Trainer, dataset: datasets.Dataset, *, seen_entities: Iterable[str] | None = None
) -> dict:
    """Nested entity scores (see :func:`scanner_hf.evaluation.metrics.entity_scores`) on an encoded split."""
    output = trainer.predict(dataset)
    gold, predicted = logits_to_tags(output.predictions, output.label_ids, trainer.model.config.id2label)
    return entity_scores(gold, predicted, tokens=dataset["words"], seen_entities=seen_entities)


@dataclass
class StageTrainingArguments(TrainingArguments):
    """``transformers.TrainingArguments`` for one SCANNER stage, plus CPU-budget caps on its data. Every
    Trainer option works as in any Trainer (``report_to``, ``gradient_accumulation_steps``, ``bf16``,
    logging, ...). With a validation split and an ``eval_strategy`` other than ``"no"``, each evaluation
    scores entity F1 and ``load_best_model_at_end`` keeps the best epoch (``metric_for_best_model="f1"``)."""

    max_train_samples: int | None = field(default=None, metadata={"help": "this stage's training sentences at most (None: all)"})
    max_eval_samples: int | None = field(default=None, metadata={"help": "this stage's validation sentences at most (None: all)"})


def stage_training_arguments(output_dir: str, *, select_best_on_dev: bool = True, **values) -> StageTrainingArguments:
    """The paper's stage defaults (Tables 9 and 10: 10 epochs, batch 8, lr 2e-5, weight decay 0.01, 10 %
    warm-up) as :class:`StageTrainingArguments`; ``values`` are any TrainingArguments fields. With
    ``select_best_on_dev`` every epoch is scored on the validation split and the best one kept."""
    defaults = dict(
        output_dir=output_dir, num_train_epochs=10, per_device_train_batch_size=8, per_device_eval_batch_size=64,
        learning_rate=2e-5, weight_decay=0.01, warmup_steps=0.1, logging_steps=50, save_strategy="no",
        # batches of similar length: far less padding, which matters on CPU (stage-2 prompts vary a lot)
        train_sampling_strategy="group_by_length",
    )
    if select_best_on_dev:
        defaults.update(eval_strategy="epoch", save_strategy="epoch", load_best_model_at_end=True, metric_for_best_model="f1",
                        greater_is_better=True, save_total_limit=1, save_only_model=True)
    defaults.update(values)
    if defaults.get("bf16") and not torch.cuda.is_available():
        defaults.setdefault("use_cpu", True)  # the Trainer accepts bf16 without a GPU only when told it runs on the CPU
    return StageTrainingArguments(**defaults)


@dataclass
class Distillation:
    """How a student learns from its teacher (see :mod:`scanner_hf.training.distillation`)."""

    teacher: PreTrainedModel | None = None
    mode: str = "tyt"
    fixed_alpha: float = 0.5


def fit(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    args: TrainingArguments,
    train_dataset: datasets.Dataset,
    collator: Callable,
    *,
    distillation: Distillation | None = None,
    awp: AWPSettings | None = None,
    eval_dataset: datasets.Dataset | None = None,
    compute_metrics: Callable | None = None,
    callbacks: Sequence | None = None,
) -> DistillationTrainer:
    """Train with :class:`DistillationTrainer` as ``args`` say. With distillation, the teacher's logits
    are computed once over the training set (the cached fast path; a dataset that already has a
    ``teacher_logits`` column is used as it is) and the student learns with Trust Your Teacher. Without
    an ``eval_dataset`` nothing is evaluated (and no best epoch is chosen)."""
    if eval_dataset is None and (args.eval_strategy != "no" or args.load_best_model_at_end):
        args = replace(args, eval_strategy="no", load_best_model_at_end=False, save_strategy="no")
    elif eval_dataset is not None and args.metric_for_best_model is None and args.load_best_model_at_end:
        args = replace(args, metric_for_best_model="f1", greater_is_better=True)
    mode, fixed_alpha = "none", 0.5
    if distillation is not None and distillation.mode != "none":
        if TEACHER_LOGITS not in train_dataset.column_names:
            if distillation.teacher is None:
                raise ValueError("distillation needs a trained teacher or cached teacher logits")
            train_dataset = add_teacher_logits(distillation.teacher, train_dataset, collator)
        collator = WithTeacherLogits(collator)
        mode, fixed_alpha = distillation.mode, distillation.fixed_alpha
    trainer = DistillationTrainer(
        model=model,
        args=args,
        train_dataset=train_dataset,
        data_collator=collator,
        processing_class=tokenizer,
        distillation=mode,
        fixed_alpha=fixed_alpha,
        awp=awp,
        eval_dataset=eval_dataset,
        compute_metrics=compute_metrics,
        callbacks=list(callbacks) if callbacks else None,
    )
    trainer.train()
    return trainer


def candidate_metrics(non_entity_id: int) -> Callable:
    """Stage 2's per-epoch dev score: entity F1 over candidates (a candidate counts as a predicted
    entity unless predicted ``non-entity``; it is right when its type equals the gold type)."""

    def compute(evaluation) -> dict[str, float]:
        logits = evaluation.predictions[0] if isinstance(evaluation.predictions, tuple) else evaluation.predictions
        predicted, gold = logits.argmax(-1), evaluation.label_ids
        true_positives = int(((predicted == gold) & (gold != non_entity_id)).sum())
        predicted_entities, gold_entities = int((predicted != non_entity_id).sum()), int((gold != non_entity_id).sum())
        precision = true_positives / predicted_entities if predicted_entities else 0.0
        recall = true_positives / gold_entities if gold_entities else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        return {"precision": precision, "recall": recall, "f1": f1, "accuracy": float((predicted == gold).mean())}

    return compute


def fit_span_detector(
    detector: ScannerSpanDetector,
    tokenizer: PreTrainedTokenizerBase,
    train_split: datasets.Dataset,
    args: TrainingArguments,
    *,
    max_length: int,
    distillation: Distillation | None = None,
    awp: AWPSettings | None = None,
    eval_split: datasets.Dataset | None = None,
    callbacks: Sequence | None = None,
) -> ScannerSpanDetector:
    """Fine-tune a stage-1 detector in place on a split: untyped B/I/O, or typed BIO when the detector
    is typed (``config.entity_types``); with its word shapes when it has them; optionally distilled from
    a teacher detector and with AWP; scored on ``eval_split`` (span F1, typed F1 for a typed detector)."""
    typed = bool(detector.config.entity_types)
    features = dict(word_shapes=detector.config.word_shapes)
    target = dict(detector.config.label2id) if typed else "untyped"
    train_dataset = encode_token_classification(train_split, tokenizer, target=target, max_length=max_length, **features)
    eval_dataset = compute_metrics = None
    if eval_split is not None:
        eval_dataset = encode_token_classification(eval_split, tokenizer, target=target, max_length=max_length, **features)
        compute_metrics = make_compute_metrics(detector.config.id2label, tokens=eval_dataset["words"])
    detector.train()
    fit(
        detector, tokenizer, args, train_dataset, TokenClassificationCollator(tokenizer), distillation=distillation,
        awp=awp, eval_dataset=eval_dataset, compute_metrics=compute_metrics, callbacks=callbacks,
    )
    return detector.eval()


def fit_entity_recognizer(
    recognizer: ScannerEntityRecognizer,
    builder: PromptBuilder,
    train_split: datasets.Dataset,
    candidates: Sequence[Candidate],
    args: TrainingArguments,
    *,
    providers: Sequence[KnowledgeProvider] = (),
    distillation: Distillation | None = None,
    eval_split: datasets.Dataset | None = None,
    eval_candidates: Sequence[Candidate] | None = None,
    callbacks: Sequence | None = None,
) -> ScannerEntityRecognizer:
    """Fine-tune a stage-2 recogniser in place on labelled candidates of a split, its prompts from
    ``builder`` (``ScannerProcessor.prompt_builder``) with knowledge from ``providers``, optionally
    distilled from a teacher recogniser, scored on ``eval_candidates`` of ``eval_split`` (candidate F1)."""
    tokenizer = builder.tokenizer
    label2id = recognizer.config.label2id
    train_dataset = encode_candidates(train_split, candidates, builder, label2id, providers)
    eval_dataset = compute_metrics = None
    if eval_split is not None and eval_candidates:
        eval_dataset = encode_candidates(eval_split, eval_candidates, builder, label2id, providers)
        compute_metrics = candidate_metrics(recognizer.config.non_entity_id)
    recognizer.train()
    fit(
        recognizer, tokenizer, args, train_dataset, Stage2Collator(tokenizer, recognizer.config.max_objects),
        distillation=distillation, eval_dataset=eval_dataset, compute_metrics=compute_metrics, callbacks=callbacks,
    )
    return recognizer.eval()
