"""Training helpers shared by the stage-1 detector and the token-classification baseline.

Both learn first-sub-word token labels with ``transformers.Trainer``; they differ only in the label
set (untyped O/B/I for SCANNER's stage 1, typed BIO for the baseline).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable

import datasets
from transformers import (
    DataCollatorForTokenClassification,
    PreTrainedModel,
    PreTrainedTokenizerBase,
    Trainer,
    TrainingArguments,
)

from .configuration import SPAN_TAGS
from .evaluation import entity_scores, logits_to_tags, make_compute_metrics
from .tags import split_tag
from .tokenization import encode_words_for_training

logger = logging.getLogger(__name__)


def label_mapper(source_names: list[str], target: str) -> Callable[[list[int]], list[int]]:
    """Map ``ner_tags`` ids to ``"typed"`` BIO ids (unchanged) or ``"untyped"`` O/B/I ids."""
    if target == "typed":
        return list
    if target != "untyped":
        raise ValueError(f"target must be 'typed' or 'untyped', not {target!r}")
    untyped = [SPAN_TAGS.index(split_tag(name)[0]) for name in source_names]
    return lambda tag_ids: [untyped[tag_id] for tag_id in tag_ids]


def encode_token_classification(
    dataset: datasets.Dataset,
    tokenizer: PreTrainedTokenizerBase,
    *,
    target: str,
    max_length: int,
) -> datasets.Dataset:
    """Tokenise a split for token classification (``target`` ``"typed"`` or ``"untyped"``).

    Rows keep their words in ``words``; the Trainer drops that column before the model sees it.
    """
    to_target = label_mapper(dataset.features["ner_tags"].feature.names, target)

    def encode(batch: dict) -> dict:
        labels = [to_target(tag_ids) for tag_ids in batch["ner_tags"]]
        return dict(encode_words_for_training(tokenizer, batch["tokens"], labels, max_length))

    return dataset.map(encode, batched=True, remove_columns=dataset.column_names, desc="tokenising")


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
        data_collator=DataCollatorForTokenClassification(tokenizer),
        processing_class=tokenizer,
        compute_metrics=compute_metrics,
        **trainer_kwargs,
    )


def score_token_classifier(
    trainer: Trainer, dataset: datasets.Dataset, *, seen_entities: Iterable[str] | None = None
) -> dict:
    """Nested entity scores (see :func:`scanner_hf.evaluation.entity_scores`) on an encoded split."""
    output = trainer.predict(dataset)
    gold, predicted = logits_to_tags(output.predictions, output.label_ids, trainer.model.config.id2label)
    return entity_scores(gold, predicted, tokens=dataset["words"], seen_entities=seen_entities)
