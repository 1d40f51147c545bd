"""Entity-level scores with the ``seqeval`` package, plus span-only and seen/unseen F1.

Mode: seqeval's **strict** mode with the **IOB2** scheme (an entity is correct only when its type and
both boundaries match; the readers have already repaired stray ``I-`` tags, so strict and default mode
see the same gold entities). An entity is *seen* when its surface string (words joined by one space,
case-sensitive) is an entity string of the training split, as in the paper's Tables 1 and 8; seen and
unseen P/R/F1 partition both gold and predicted entities by that rule.

>>> scores = entity_scores([["B-PER", "I-PER", "O"]], [["B-PER", "I-PER", "O"]])
>>> scores["f1"]
1.0
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

import numpy as np
from seqeval.metrics import classification_report
from seqeval.scheme import IOB2, Entities

UNTYPED_LABEL = "SPAN"


def _prf(true_positives: int, predicted: int, gold: int) -> dict[str, float]:
    precision = true_positives / predicted if predicted else 0.0
    recall = true_positives / gold if gold else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1, "support": gold}


def _with_types(tags: Sequence[str]) -> list[str]:
    """Give untyped B/I tags (stage 1) a type so seqeval can read them."""
    return [f"{tag}-{UNTYPED_LABEL}" if tag in ("B", "I") else tag for tag in tags]


def _strip_types(tags: Sequence[str]) -> list[str]:
    return [tag if tag == "O" else f"{tag[0]}-{UNTYPED_LABEL}" for tag in tags]


def _entity_set(sequences: list[list[str]]) -> set[tuple[int, int, int, str]]:
    entities = Entities(sequences, IOB2, suffix=False).entities
    return {entity.to_tuple() for sentence in entities for entity in sentence}


def entity_scores(
    gold: Sequence[Sequence[str]],
    predicted: Sequence[Sequence[str]],
    *,
    tokens: Sequence[Sequence[str]] | None = None,
    seen_entities: Iterable[str] | None = None,
) -> dict:
    """Micro P/R/F1 overall and per type, span-only (type-agnostic) P/R/F1, and, given ``tokens`` and
    the training split's entity strings, seen/unseen P/R/F1.
    """
    if len(gold) != len(predicted):
        raise ValueError(f"{len(gold)} gold sequences but {len(predicted)} predicted")
    for index, (gold_tags, predicted_tags) in enumerate(zip(gold, predicted)):
        if len(gold_tags) != len(predicted_tags):
            raise ValueError(f"sequence {index}: {len(gold_tags)} gold tags but {len(predicted_tags)} predicted")
    gold_typed = [_with_types(tags) for tags in gold]
    predicted_typed = [_with_types(tags) for tags in predicted]
    gold_entities, predicted_entities = _entity_set(gold_typed), _entity_set(predicted_typed)
    correct = gold_entities & predicted_entities
    scores: dict = _prf(len(correct), len(predicted_entities), len(gold_entities))

    report = classification_report(
        gold_typed, predicted_typed, mode="strict", scheme=IOB2, output_dict=True, zero_division=0
    )
    scores["per_type"] = {
        label: {
            "precision": float(row["precision"]),
            "recall": float(row["recall"]),
            "f1": float(row["f1-score"]),
            "support": int(row["support"]),
        }
        for label, row in report.items()
        if not label.endswith(" avg")
    }
    span_gold = _entity_set([_strip_types(tags) for tags in gold_typed])
    span_predicted = _entity_set([_strip_types(tags) for tags in predicted_typed])
    span = _prf(len(span_gold & span_predicted), len(span_predicted), len(span_gold))
    scores.update({f"span_{key}": value for key, value in span.items() if key != "support"})

    if tokens is not None and seen_entities is not None:
        seen = set(seen_entities)

        def is_seen(entity: tuple[int, int, int, str]) -> bool:
            sentence, _, start, end = entity
            return " ".join(tokens[sentence][start:end]) in seen

        for name, wanted in (("seen", True), ("unseen", False)):
            part_gold = {entity for entity in gold_entities if is_seen(entity) == wanted}
            part_predicted = {entity for entity in predicted_entities if is_seen(entity) == wanted}
            scores[name] = _prf(len(part_gold & part_predicted), len(part_predicted), len(part_gold))
    return scores


def flatten_scores(scores: dict, prefix: str = "") -> dict[str, float]:
    """``{"f1": .., "per_type": {"PER": {"f1": ..}}}`` -> ``{"f1": .., "PER_f1": ..}`` for loggers
    (settings that are not numbers, e.g. ``candidate_threshold: None``, are left out)."""
    flat = {}
    for key, value in scores.items():
        if key == "per_type":
            for label, row in value.items():
                flat.update({f"{prefix}{label}_{metric}": number for metric, number in row.items()})
        elif isinstance(value, dict):
            flat.update({f"{prefix}{key}_{metric}": number for metric, number in value.items()})
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            flat[f"{prefix}{key}"] = value
    return flat


def logits_to_tags(
    logits: np.ndarray, label_ids: np.ndarray, id2label: dict[int, str]
) -> tuple[list[list[str]], list[list[str]]]:
    """Gold and arg-max predicted tags at the labelled (first sub-word) positions."""
    predictions = logits.argmax(-1)
    gold, predicted = [], []
    for row_predictions, row_labels in zip(predictions, label_ids):
        keep = row_labels != -100
        gold.append([id2label[int(label)] for label in row_labels[keep]])
        predicted.append([id2label[int(label)] for label in row_predictions[keep]])
    return gold, predicted


def make_compute_metrics(
    id2label: dict[int, str],
    *,
    tokens: Sequence[Sequence[str]] | None = None,
    seen_entities: Iterable[str] | None = None,
) -> Callable:
    """A Trainer ``compute_metrics``: flat entity scores of token-classification logits.

    ``tokens`` are the evaluation set's words in the order the Trainer evaluates them (needed for
    seen/unseen scores).
    """

    def compute_metrics(evaluation) -> dict[str, float]:
        gold, predicted = logits_to_tags(evaluation.predictions, evaluation.label_ids, id2label)
        scores = entity_scores(gold, predicted, tokens=tokens, seen_entities=seen_entities)
        return flatten_scores(scores)

    return compute_metrics


# ---- grounded MNER ------------------------------------------------------------------------------

GMNER_MODES = ("candidate", "box")


def box_iou(first: Sequence[float], second: Sequence[float]) -> float:
    """Intersection over union of two ``[x1, y1, x2, y2]`` boxes."""
    width = min(first[2], second[2]) - max(first[0], second[0])
    height = min(first[3], second[3]) - max(first[1], second[1])
    if width <= 0 or height <= 0:
        return 0.0
    area = lambda box: max(0.0, box[2] - box[0]) * max(0.0, box[3] - box[1])
    union = area(first) + area(second) - width * height
    return width * height / union if union > 0 else 0.0


def grounding_correct(predicted_box: Sequence[float] | None, gold_boxes: Sequence[Sequence[float]], mode: str) -> bool:
    """An ungroundable entity (no gold box) is right only when predicted None; otherwise the box must
    overlap some gold box: IoU > 0.5 ("candidate", the official H-Index code, where the box is the
    chosen candidate region) or IoU >= 0.5 ("box", RiVEG)."""
    if mode not in GMNER_MODES:
        raise ValueError(f"mode must be one of {GMNER_MODES}, not {mode!r}")
    if not gold_boxes:
        return predicted_box is None
    if predicted_box is None:
        return False
    best = max(box_iou(predicted_box, gold) for gold in gold_boxes)
    return best > 0.5 if mode == "candidate" else best >= 0.5


def gmner_scores(
    gold: Sequence[Sequence[dict]],
    predicted: Sequence[Sequence[dict]],
    *,
    mode: str = "candidate",
    candidate_boxes: Sequence[Sequence[Sequence[float]]] | None = None,
) -> dict:
    """GMNER P/R/F1 (span + type + grounding) beside MNER (span + type) and EEG (span + grounding).

    ``gold[i]`` holds sentence i's entities as ``{"start", "end", "label", "boxes"}`` (no boxes:
    ungroundable); ``predicted[i]`` as ``{"start", "end", "label", "box"}`` (box None: not in the
    image). With ``candidate_boxes`` (each sentence's candidate regions), ``coverage`` is the share of
    groundable gold entities that some candidate covers at IoU > 0.5: the detector's ceiling.
    """
    if len(gold) != len(predicted):
        raise ValueError(f"{len(gold)} gold sentences but {len(predicted)} predicted")
    counts = {"gmner": 0, "mner": 0, "eeg": 0}
    n_gold = sum(len(entities) for entities in gold)
    n_predicted = sum(len(entities) for entities in predicted)
    for gold_entities, predicted_entities in zip(gold, predicted):
        by_span = {(g["start"], g["end"]): g for g in gold_entities}
        for entity in predicted_entities:
            match = by_span.get((entity["start"], entity["end"]))
            if match is None:
                continue
            typed = match["label"] == entity["label"]
            grounded = grounding_correct(entity.get("box"), match.get("boxes") or [], mode)
            counts["mner"] += typed
            counts["eeg"] += grounded
            counts["gmner"] += typed and grounded
    scores: dict = _prf(counts["gmner"], n_predicted, n_gold)
    scores["mode"] = mode
    scores["counts"] = {**counts, "gold": n_gold, "predicted": n_predicted}
    scores["mner"] = _prf(counts["mner"], n_predicted, n_gold)
    scores["eeg"] = _prf(counts["eeg"], n_predicted, n_gold)
    if candidate_boxes is not None:
        groundable = covered = 0
        for gold_entities, regions in zip(gold, candidate_boxes):
            for entity in gold_entities:
                if entity.get("boxes"):
                    groundable += 1
                    covered += any(box_iou(r, g) > 0.5 for r in regions for g in entity["boxes"])
        scores["coverage"] = covered / groundable if groundable else 0.0
    return scores
