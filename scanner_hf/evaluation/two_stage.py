"""Scores of the two-stage system on labelled splits (entity F1 with seen/unseen, GMNER), the
detector alone, and the box threshold chosen on dev: evaluation on top of :mod:`.inference`.

>>> scores = evaluate_two_stage(detector, detector_tokenizer, recognizer, builder, splits["test"])  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import datasets
from transformers import PreTrainedTokenizerBase

from ..data import entity_strings
from ..inference import (
    RecognizedEntity,
    Screening,
    candidate_inputs,
    detect_candidates,
    entities_to_tags,
    predict_entities,
    recognize,
    typed_entities,
)
from ..modeling_entity_recognizer import ScannerEntityRecognizer
from ..modeling_span_detector import ScannerSpanDetector
from ..prompting import PromptBuilder
from ..providers import KnowledgeProvider, KnowledgeRequest, gather_knowledge
from ..tags import OUTSIDE, untyped_tags
from ..tokenization import words_from_tokens
from .metrics import GMNER_MODES, entity_scores, gmner_scores


def evaluate_model(
    model,
    split: datasets.Dataset,
    *,
    train_split: datasets.Dataset | None = None,
    providers: Sequence[KnowledgeProvider] = (),
    batch_size: int = 64,
    screen: bool = True,
    screening_threshold: float | None = None,
) -> dict:
    """The scores of a composite ``model`` on a labelled split through ``model.predict``, the path the
    pipeline runs (its processor, thresholds and screening): entity scores (overall, per type,
    span-only, seen/unseen given ``train_split``) and, for a grounding model on a split with gold
    boxes, the GMNER scores. Precomputed knowledge is looked up by each row's ``image_id``."""
    tokens = split["tokens"]
    inputs = [{"words": list(words), "image_id": image_id} for words, image_id in zip(tokens, split["image_id"])]
    found = model.predict(inputs, providers=providers, batch_size=batch_size, screen=screen, screening_threshold=screening_threshold)
    entities = [word_entities(index, words, dicts) for index, (words, dicts) in enumerate(zip(tokens, found))]
    seen = entity_strings(train_split) if train_split is not None else None
    scores = _entity_scores_of(split, entities, seen)
    if "entities" in split.column_names and model.config.entity_recognizer_config.grounding_weight > 0:
        scores.update(grounding_scores(split, entities, providers))
    return scores


def word_entities(sentence_index: int, words: Sequence[str], found: Sequence[dict]) -> list[RecognizedEntity]:
    """The pipeline's entity dicts for pre-split ``words`` as word spans (their character offsets are
    into the words joined by single spaces)."""
    offsets = words_from_tokens(list(words))[1]
    starts = {word.start: index for index, word in enumerate(offsets)}
    ends = {word.end: index + 1 for index, word in enumerate(offsets)}
    return [
        RecognizedEntity(sentence_index, starts[e["start"]], ends[e["end"]], e["entity_group"], e["score"],
                         tuple(e["box"]) if e.get("box") is not None else None, e.get("box_score"))
        for e in found
    ]


def evaluate_two_stage(
    detector: ScannerSpanDetector,
    detector_tokenizer: PreTrainedTokenizerBase,
    recognizer: ScannerEntityRecognizer,
    builder: PromptBuilder,
    split: datasets.Dataset,
    *,
    train_split: datasets.Dataset | None = None,
    providers: Sequence[KnowledgeProvider] = (),
    batch_size: int = 64,
    box_threshold: float = 0.5,
    max_length: int | None = None,
    candidate_threshold: float | None = None,
    screening: Screening | None = None,
) -> dict:
    """Entity scores (overall, per type, span-only, and seen/unseen given ``train_split``) of the
    two-stage system on a labelled split; for grounding models on a split with gold boxes, also the
    GMNER scores (see :func:`grounding_scores`)."""
    tokens = split["tokens"]
    entities = predict_entities(
        detector, detector_tokenizer, recognizer, builder, tokens, split["image_id"], providers,
        batch_size=batch_size, box_threshold=box_threshold, max_length=max_length, candidate_threshold=candidate_threshold,
        screening=screening,
    )
    seen = entity_strings(train_split) if train_split is not None else None
    scores = _entity_scores_of(split, entities, seen)
    if "entities" in split.column_names and recognizer.config.grounding_weight > 0:
        scores.update(grounding_scores(split, entities, providers))
    return scores


def _entity_scores_of(split: datasets.Dataset, entities: Sequence[Sequence[RecognizedEntity]], seen=None) -> dict:
    names = split.features["ner_tags"].feature.names
    gold = [[names[i] for i in ids] for ids in split["ner_tags"]]
    predicted = [entities_to_tags(sentence_entities, len(words)) for sentence_entities, words in zip(entities, split["tokens"])]
    return entity_scores(gold, predicted, tokens=split["tokens"], seen_entities=seen)


def grounding_scores(split: datasets.Dataset, entities: Sequence[Sequence[RecognizedEntity]], providers) -> dict:
    """GMNER scores in both modes (with MNER, EEG and the candidate regions' coverage ceiling) for a
    split with gold boxes, plus ``grounding_accuracy``: the share of correctly typed entities whose
    grounding (box or None) is right."""
    gold = [[dict(e) for e in row] for row in split["entities"]]
    predicted = [[{"start": e.start, "end": e.end, "label": e.label, "box": e.box} for e in row] for row in entities]
    regions = []
    for tokens, image_id in zip(split["tokens"], split["image_id"]):
        request = KnowledgeRequest(sentence=" ".join(tokens), candidate="", image_id=image_id)
        regions.append([obj.box for obj in gather_knowledge(providers, request).objects if obj.box is not None])
    scores = {f"gmner_{mode}": gmner_scores(gold, predicted, mode=mode, candidate_boxes=regions) for mode in GMNER_MODES}
    counts = scores["gmner_candidate"]["counts"]
    scores["grounding_accuracy"] = counts["gmner"] / counts["mner"] if counts["mner"] else 0.0
    return scores


def evaluate_detector(
    detector: ScannerSpanDetector,
    tokenizer: PreTrainedTokenizerBase,
    split: datasets.Dataset,
    *,
    train_split: datasets.Dataset | None = None,
    batch_size: int = 64,
) -> dict:
    """Span-only scores of stage 1's arg-max decode on a labelled split (types ignored), with seen/unseen."""
    tokens = split["tokens"]
    predicted = [[OUTSIDE] * len(words) for words in tokens]
    for candidate in detect_candidates(detector, tokenizer, tokens, batch_size=batch_size):
        predicted[candidate.sentence_index][candidate.start : candidate.end] = ["B"] + ["I"] * (candidate.end - candidate.start - 1)
    names = split.features["ner_tags"].feature.names
    gold = [untyped_tags([names[i] for i in ids]) for ids in split["ner_tags"]]
    seen = entity_strings(train_split) if train_split is not None else None
    return entity_scores(gold, predicted, tokens=tokens, seen_entities=seen)


def tune_box_threshold(
    detector: ScannerSpanDetector,
    detector_tokenizer: PreTrainedTokenizerBase,
    recognizer: ScannerEntityRecognizer,
    builder: PromptBuilder,
    split: datasets.Dataset,
    providers: Sequence[KnowledgeProvider] = (),
    thresholds: Sequence[float] = (0.5, 0.45, 0.4, 0.35, 0.3, 0.25, 0.2, 0.15, 0.1, 0.05),
) -> float:
    """The overlap-score threshold (below it: "not in the image") with the best GMNER F1 on a
    labelled split, usually the validation split (ties keep the earlier, higher threshold). Predicts
    once and re-thresholds offline."""
    entities = predict_entities(
        detector, detector_tokenizer, recognizer, builder, split["tokens"], split["image_id"], providers, box_threshold=0.0,
    )
    best, best_f1 = 0.5, -1.0
    for threshold in thresholds:
        kept = [
            [replace(e, box=e.box if (e.box_score or 0.0) >= threshold else None) for e in row] for row in entities
        ]
        f1 = grounding_scores(split, kept, providers)["gmner_candidate"]["f1"]
        if f1 > best_f1:
            best, best_f1 = threshold, f1
    return best


CANDIDATE_THRESHOLDS: tuple[float | None, ...] = (None, 0.4, 0.3, 0.2, 0.1)


def tune_candidate_threshold(
    detector: ScannerSpanDetector,
    detector_tokenizer: PreTrainedTokenizerBase,
    recognizer: ScannerEntityRecognizer,
    builder: PromptBuilder,
    split: datasets.Dataset,
    providers: Sequence[KnowledgeProvider] = (),
    thresholds: Sequence[float | None] = CANDIDATE_THRESHOLDS,
    **kwargs,
) -> tuple[float | None, dict]:
    """The stage-1 proposal threshold (``None``: arg-max decode only) with the best final F1 on a
    labelled split, usually the validation split (ties keep the earlier, more conservative setting),
    and the F1 of every setting tried."""
    results = {}
    for threshold in thresholds:
        scores = evaluate_two_stage(
            detector, detector_tokenizer, recognizer, builder, split, providers=providers, candidate_threshold=threshold, **kwargs
        )
        results[threshold] = scores["f1"]
    best = max(thresholds, key=lambda t: (results[t], -thresholds.index(t)))
    return best, results


SCREENING_THRESHOLDS: tuple[float, ...] = (0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95, 0.98, 0.99)


def best_screening_threshold(f1_at: dict[float, float]) -> float:
    """The threshold with the best F1, ties to the lower one (fewer candidates typed twice: faster)."""
    return max(sorted(f1_at), key=lambda threshold: (f1_at[threshold], -threshold))


def tune_screening_threshold(
    detector: ScannerSpanDetector,
    detector_tokenizer: PreTrainedTokenizerBase,
    recognizer: ScannerEntityRecognizer,
    builder: PromptBuilder,
    split: datasets.Dataset,
    providers: Sequence[KnowledgeProvider] = (),
    thresholds: Sequence[float] = SCREENING_THRESHOLDS,
    *,
    max_length: int | None = None,
    candidate_threshold: float | None = None,
) -> tuple[float, dict]:
    """The screening threshold with the best F1 on a labelled split, usually the validation split (1.0:
    the entity recogniser types every candidate), ties going to the lower threshold (fewer candidates
    typed twice: faster), and per threshold tried (and ``recogniser`` / ``screener``, i.e. stage 1's types, alone)
    the F1 and the share of candidates the entity recogniser typed. The typed ``detector``'s types
    screen (see :class:`~.inference.Screening`). Each pass runs once; thresholds are applied offline."""
    tokens = split["tokens"]
    candidates = detect_candidates(detector, detector_tokenizer, tokens, max_length=max_length, threshold=candidate_threshold)
    items = candidate_inputs(tokens, split["image_id"], candidates, providers)
    screening = Screening(1.0)
    alone, screened = recognize(recognizer, builder, items), screening.first_pass(recognizer, candidates)

    def f1_of(results) -> float:
        entities = typed_entities(candidates, results, recognizer, len(tokens), overlapping=candidate_threshold is not None)
        return _entity_scores_of(split, entities)["f1"]

    tried = {"recogniser": {"f1": f1_of(alone), "typed_again": 1.0}, "screener": {"f1": f1_of(screened), "typed_again": 0.0}}
    f1_at = {1.0: tried["recogniser"]["f1"]}
    for threshold in sorted(thresholds):
        unsure = set(screening.unsure(screened, threshold))
        f1_at[threshold] = f1_of([alone[index] if index in unsure else first for index, first in enumerate(screened)])
        tried[str(threshold)] = {"f1": f1_at[threshold], "typed_again": len(unsure) / max(1, len(screened))}
    return best_screening_threshold(f1_at), tried
