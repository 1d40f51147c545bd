"""Two-stage inference: stage 1 proposes spans, stage 2 types them (``non-entity`` removes a span) and,
when it grounds, picks an object box. Used by evaluation now and wrapped by the pipeline later.

>>> entities = predict_entities(detector, detector_tokenizer, recognizer, builder, tokens, image_ids)  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import datasets
import torch
from transformers import PreTrainedTokenizerBase

from .candidates import Candidate
from .data import entity_strings
from .evaluation import GMNER_MODES, entity_scores, gmner_scores
from .modeling_entity_recognizer import ScannerEntityRecognizer
from .modeling_span_detector import ScannerSpanDetector, decode_bio
from .prompting import PromptBuilder, PromptInput
from .providers import Knowledge, KnowledgeProvider, KnowledgeRequest, gather_knowledge
from .stage2_data import Stage2Collator, candidate_inputs
from .tags import OUTSIDE, TagSpan, spans_to_tags, untyped_tags


@dataclass
class RecognizedEntity:
    """A typed entity over words ``[start, end)`` of one sentence, with stage 2's probability and, for
    grounding models, the chosen object box (``None``: not in the image) and its overlap score."""

    sentence_index: int
    start: int
    end: int
    label: str
    score: float
    box: tuple[float, float, float, float] | None = None
    box_score: float | None = None


@torch.no_grad()
def recognize(
    model: ScannerEntityRecognizer,
    builder: PromptBuilder,
    items: Sequence[PromptInput],
    *,
    batch_size: int = 64,
    box_threshold: float = 0.5,
) -> list[tuple[int, float, tuple | None, float | None]]:
    """``(label id, probability, box, box score)`` per prompt input. Prompts are sorted by length so
    batches carry little padding; results come back in input order."""
    prompts = builder.build(items)
    collator = Stage2Collator(builder.tokenizer, model.config.max_objects)
    order = sorted(range(len(prompts)), key=lambda i: len(prompts[i].input_ids))
    results: list = [None] * len(prompts)
    was_training = model.training
    model.eval()
    try:
        for offset in range(0, len(order), batch_size):
            indices = order[offset : offset + batch_size]
            batch = collator([{"input_ids": prompts[i].input_ids} for i in indices])
            output = model(**{key: value.to(model.device) for key, value in batch.items()})
            probabilities = output.logits.float().softmax(-1).cpu()
            overlaps = output.overlap_logits.float().sigmoid().cpu()
            for row, index in enumerate(indices):
                label_id = int(probabilities[row].argmax())
                box = box_score = None
                objects = [items[index].knowledge.objects[i] for i in prompts[index].object_indices]
                if model.config.grounding_weight > 0 and objects:
                    best = int(overlaps[row, : len(objects)].argmax())
                    box_score = float(overlaps[row, best])
                    box = objects[best].box if box_score >= box_threshold else None
                results[index] = (label_id, float(probabilities[row, label_id]), box, box_score)
    finally:
        model.train(was_training)
    return results


def detect_candidates(
    detector: ScannerSpanDetector, tokenizer: PreTrainedTokenizerBase, tokens: Sequence[Sequence[str]], **kwargs
) -> list[Candidate]:
    """Stage 1 over word-split sentences: every decoded span becomes a candidate."""
    probabilities = detector.predict_word_probabilities(tokens, tokenizer, **kwargs)
    return [
        Candidate(index, start, end, score=score)
        for index, sentence in enumerate(probabilities)
        for start, end, score in decode_bio(sentence)
    ]


def predict_entities(
    detector: ScannerSpanDetector,
    detector_tokenizer: PreTrainedTokenizerBase,
    recognizer: ScannerEntityRecognizer,
    builder: PromptBuilder,
    tokens: Sequence[Sequence[str]],
    image_ids: Sequence[str | None] | None = None,
    providers: Sequence[KnowledgeProvider] = (),
    *,
    given: Sequence[Knowledge | None] | None = None,
    images: Sequence | None = None,
    batch_size: int = 64,
    box_threshold: float = 0.5,
    max_length: int | None = None,
) -> list[list[RecognizedEntity]]:
    """Run both stages over word-split sentences; returns the typed entities of each sentence.

    Knowledge ``given`` per sentence wins over ``providers``; stage-2 prompts of all sentences are
    batched together, sorted by length."""
    image_ids = image_ids if image_ids is not None else [None] * len(tokens)
    candidates = detect_candidates(detector, detector_tokenizer, tokens, batch_size=batch_size, max_length=max_length)
    items = candidate_inputs(tokens, image_ids, candidates, providers, given=given, images=images)
    results = recognize(recognizer, builder, items, batch_size=batch_size, box_threshold=box_threshold)
    non_entity = recognizer.config.non_entity_id
    entities: list[list[RecognizedEntity]] = [[] for _ in tokens]
    for candidate, (label_id, score, box, box_score) in zip(candidates, results):
        if label_id == non_entity:
            continue
        label = recognizer.config.id2label[label_id]
        entities[candidate.sentence_index].append(
            RecognizedEntity(candidate.sentence_index, candidate.start, candidate.end, label, score, box, box_score)
        )
    return entities


def entities_to_tags(entities: Sequence[RecognizedEntity], length: int) -> list[str]:
    """IOB2 tags for one sentence (stage 1's spans never overlap)."""
    if not entities:
        return [OUTSIDE] * length
    return spans_to_tags([TagSpan(e.start, e.end, e.label) for e in entities], length)


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
) -> dict:
    """Entity scores (overall, per type, span-only, and seen/unseen given ``train_split``) of the
    two-stage system on a labelled split; for grounding models on a split with gold boxes, also the
    GMNER scores (see :func:`grounding_scores`)."""
    tokens = split["tokens"]
    entities = predict_entities(
        detector, detector_tokenizer, recognizer, builder, tokens, split["image_id"], providers,
        batch_size=batch_size, box_threshold=box_threshold,
    )
    names = split.features["ner_tags"].feature.names
    gold = [[names[i] for i in ids] for ids in split["ner_tags"]]
    predicted = [entities_to_tags(sentence_entities, len(words)) for sentence_entities, words in zip(entities, tokens)]
    seen = entity_strings(train_split) if train_split is not None else None
    scores = entity_scores(gold, predicted, tokens=tokens, seen_entities=seen)
    if "entities" in split.column_names and recognizer.config.grounding_weight > 0:
        scores.update(grounding_scores(split, entities, providers))
    return scores


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
    """Span-only scores of stage 1 on a labelled split (types ignored), with seen/unseen."""
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
        detector, detector_tokenizer, recognizer, builder, split["tokens"], split["image_id"], providers, box_threshold=0.0
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
