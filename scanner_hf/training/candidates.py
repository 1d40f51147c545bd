"""Stage 2's training and inference candidates.

Training candidates are the gold entities (with their types) plus spans stage 1 proposes that are not
gold entities (labelled ``non-entity``). To get realistic false positives on the training split
itself, the paper splits it into 4 folds, trains stage 1 on three and predicts the fourth
(:func:`cross_fold_spans`). At inference, candidates are stage 1's spans.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Sequence

import datasets

from ..configuration import NON_ENTITY
from ..evaluation.metrics import box_iou
from ..processing_scanner import Candidate
from ..tags import tags_to_spans

logger = logging.getLogger(__name__)

WordSpan = tuple[int, int]


def gold_spans(split: datasets.Dataset) -> list[list[tuple[int, int, str]]]:
    """``(start, end, type)`` of every gold entity, per sentence."""
    names = split.features["ner_tags"].feature.names
    return [[(s.start, s.end, s.label) for s in tags_to_spans([names[i] for i in ids])] for ids in split["ner_tags"]]


def gold_candidates(split: datasets.Dataset) -> list[Candidate]:
    """Every gold entity as a candidate, with its boxes when the split has them (Twitter-GMNER)."""
    candidates = []
    has_boxes = "entities" in split.column_names
    entity_rows = split["entities"] if has_boxes else [None] * len(split)
    for index, (spans, entities) in enumerate(zip(gold_spans(split), entity_rows)):
        boxes_by_span = {(e["start"], e["end"]): e["boxes"] for e in entities} if entities else {}
        candidates += [Candidate(index, s, e, label, boxes_by_span.get((s, e), [])) for s, e, label in spans]
    return candidates


def non_entity_candidates(split: datasets.Dataset, predicted: Sequence[Sequence[WordSpan]]) -> list[Candidate]:
    """Predicted spans that are not exactly a gold entity, labelled ``non-entity``."""
    if len(predicted) != len(split):
        raise ValueError(f"{len(predicted)} predicted sentences for a split of {len(split)}")
    candidates = []
    for index, (gold, spans) in enumerate(zip(gold_spans(split), predicted)):
        gold_boundaries = {(s, e) for s, e, _ in gold}
        candidates += [Candidate(index, s, e, NON_ENTITY) for s, e in spans if (s, e) not in gold_boundaries]
    return candidates


def training_candidates(split: datasets.Dataset, predicted: Sequence[Sequence[WordSpan]] | None) -> list[Candidate]:
    """Gold entities plus stage-1 false positives (none when ``predicted`` is None)."""
    candidates = gold_candidates(split)
    if predicted is not None:
        extra = non_entity_candidates(split, predicted)
        logger.info("stage-2 candidates: %d gold entities + %d non-entity spans", len(candidates), len(extra))
        candidates += extra
    return sorted(candidates, key=lambda c: (c.sentence_index, c.start, c.end))


def fold_indices(size: int, folds: int, seed: int) -> list[list[int]]:
    """A seeded shuffle of ``range(size)`` cut into ``folds`` near-equal parts."""
    if folds < 2:
        raise ValueError("cross-fold prediction needs at least 2 folds")
    order = list(range(size))
    random.Random(seed).shuffle(order)
    return [sorted(order[k::folds]) for k in range(folds)]


def cross_fold_spans(
    split: datasets.Dataset,
    train_and_predict: Callable[[datasets.Dataset, datasets.Dataset], list[list[WordSpan]]],
    *,
    folds: int = 4,
    seed: int = 42,
) -> list[list[WordSpan]]:
    """Stage-1 spans for every training sentence from a model that never saw it.

    ``train_and_predict(train_part, held_out)`` trains a detector on ``train_part`` and returns the
    word spans it predicts on ``held_out``, in order.
    """
    predicted: list[list[WordSpan] | None] = [None] * len(split)
    for fold, held_out in enumerate(fold_indices(len(split), folds, seed)):
        held = set(held_out)
        train_part = split.select([i for i in range(len(split)) if i not in held])
        logger.info("non-entity fold %d/%d: training on %d, predicting %d", fold + 1, folds, len(train_part), len(held_out))
        spans = train_and_predict(train_part, split.select(held_out))
        if len(spans) != len(held_out):
            raise ValueError(f"fold {fold}: {len(spans)} predictions for {len(held_out)} sentences")
        for index, sentence_spans in zip(held_out, spans):
            predicted[index] = list(sentence_spans)
    return predicted  # type: ignore[return-value]


def max_iou(box: Sequence[float] | None, gold_boxes: Sequence[Sequence[float]]) -> float:
    """The best IoU of ``box`` with any of an entity's gold boxes (0 when either is missing)."""
    if box is None or not gold_boxes:
        return 0.0
    return max(box_iou(box, gold) for gold in gold_boxes)


def spans_by_sentence(candidates, sentences: int) -> list[list[tuple[int, int]]]:
    """Detected candidates regrouped as word spans per sentence."""
    spans: list[list[tuple[int, int]]] = [[] for _ in range(sentences)]
    for candidate in candidates:
        spans[candidate.sentence_index].append((candidate.start, candidate.end))
    return spans
