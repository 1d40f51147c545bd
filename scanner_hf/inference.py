"""Inference, one path for every caller: stage 1 proposes spans, knowledge is gathered for each,
stage 2 types them (``non-entity`` removes a span) and, when it grounds, picks an object box. With a
:class:`Screening`, a typed stage 1's types are the first answer and stage 2 types only the
candidates it is unsure of. The pipeline, evaluation, the audit and the CLI all call :func:`predict_entities`.

This module (with configuration, modeling, tokenization, prompting and providers) is what a saved
checkpoint needs to run: it imports no data readers, metrics or training code.

>>> entities = predict_entities(detector, detector_tokenizer, recognizer, builder, tokens, image_ids)  # doctest: +SKIP
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from transformers import PreTrainedTokenizerBase

from .configuration import check_screening_threshold
from .modeling_entity_recognizer import ScannerEntityRecognizer
from .modeling_span_detector import (
    ScannerSpanDetector,
    propose_spans,
    span_tag_probabilities,
    span_type_scores,
)
from .processing_scanner import Candidate, Stage2Collator
from .prompting import EncodedPrompt, PromptBuilder, PromptInput, focus_on_candidate
from .providers import Knowledge, KnowledgeProvider, KnowledgeRequest, gather_knowledge
from .tags import OUTSIDE, TagSpan, spans_to_tags
from .tokenization import length_batches

logger = logging.getLogger(__name__)


def candidate_inputs(
    tokens: Sequence[Sequence[str]],
    image_ids: Sequence[str | None],
    candidates: Sequence[Candidate],
    providers: Sequence[KnowledgeProvider] = (),
    *,
    given: Sequence[Knowledge | None] | None = None,
    images: Sequence | None = None,
) -> list[PromptInput]:
    """Prompt inputs for candidates. Knowledge ``given`` per sentence (precomputed by the caller) wins;
    ``providers`` fill what it leaves empty (none at all: text only). Objects are ordered by their
    similarity to the candidate when every object has one, else kept in detector order."""
    requests = [
        KnowledgeRequest(
            sentence=" ".join(tokens[candidate.sentence_index]),
            candidate=" ".join(tokens[candidate.sentence_index][candidate.start : candidate.end]),
            image_id=image_ids[candidate.sentence_index],
            image=images[candidate.sentence_index] if images is not None else None,
        )
        for candidate in candidates
    ] if providers else []
    for provider in providers:
        provider.prefetch(requests)
    items = []
    for position, candidate in enumerate(candidates):
        index = candidate.sentence_index
        knowledge = (given[index] if given is not None else None) or Knowledge()
        if providers:
            knowledge = knowledge.merged_with(gather_knowledge(providers, requests[position]))
        items.append(PromptInput(tokens[index], candidate.start, candidate.end, knowledge.with_objects_ordered()))
    return items


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
    knowledge: dict | None = None  # with return_knowledge: what its prompt was given (:func:`knowledge_used`)


def knowledge_used(item: PromptInput, prompt: EncodedPrompt | None) -> dict:
    """What one candidate's prompt was given: the KB entries (title, types, description, the name that
    matched) and their text, the caption, the LLM text about it, the objects (``in_prompt``: whether it
    got an ``<obj>`` slot), and ``cut``: what the token budget shortened or dropped. ``prompt`` None: the
    candidate was typed by stage 1's screening, and no prompt was built."""
    knowledge = item.knowledge
    entity = " ".join(item.words[item.start : item.end])
    in_prompt = set(prompt.object_indices) if prompt is not None else set()
    return {
        "kb": [dict(entry) for entry in knowledge.kb_entries],
        "wikipedia": knowledge.wikipedia,
        "caption": knowledge.caption,
        "llm": focus_on_candidate(knowledge.llm, entity) if knowledge.llm else None,
        "objects": [{"label": obj.label, "caption": obj.caption, "box": list(obj.box) if obj.box is not None else None,
                     "similarity": obj.similarity, "in_prompt": index in in_prompt} for index, obj in enumerate(knowledge.objects)],
        "cut": dict(prompt.cut) if prompt is not None else {},
        "prompted": prompt is not None,
    }


@torch.no_grad()
def recognize(
    model: ScannerEntityRecognizer,
    builder: PromptBuilder,
    items: Sequence[PromptInput],
    *,
    batch_size: int = 64,
    box_threshold: float = 0.5,
    prompts_out: list | None = None,
) -> list[tuple[int, float, tuple | None, float | None]]:
    """``(label id, probability, box, box score)`` per prompt input (``prompts_out``, when given, gets each
    input's :class:`EncodedPrompt`, ``None`` for one too long to build). Identical prompts (the same
    candidate in the same text with the same knowledge, e.g. a repeated post) are encoded once; the
    distinct ones go in batches of similar length (:func:`length_batches`), so batches carry little
    padding; results come back in input order."""
    prompts = builder.build(items, skip_too_long=True)
    if prompts_out is not None:
        prompts_out.extend(prompts)
    too_long = [index for index, prompt in enumerate(prompts) if prompt is None]
    if too_long:
        logger.warning("%d of %d candidates do not fit a prompt of %d tokens even alone, so they are not typed "
                       "(answered non-entity); the first: %r", len(too_long), len(items), builder.max_length,
                       " ".join(items[too_long[0]].words[items[too_long[0]].start:items[too_long[0]].end]))
    first_of: dict[tuple, int] = {}
    distinct = [first_of.setdefault(tuple(prompt.input_ids), index) if prompt is not None else -1
                for index, prompt in enumerate(prompts)]
    was_training = model.training
    model.eval()
    try:
        encoded = _encode_each(model, builder, prompts, list(first_of.values()), batch_size)
    finally:
        model.train(was_training)
    results = []
    for index, item in enumerate(items):
        if prompts[index] is None:
            results.append((model.config.non_entity_id, 1.0, None, None))
            continue
        probabilities, overlaps = encoded[distinct[index]]
        label_id = int(probabilities.argmax())
        box = box_score = None
        objects = [item.knowledge.objects[i] for i in prompts[index].object_indices]
        if model.config.grounding_weight > 0 and objects:
            best = int(overlaps[: len(objects)].argmax())
            box_score = float(overlaps[best])
            box = objects[best].box if box_score >= box_threshold else None
        results.append((label_id, float(probabilities[label_id]), box, box_score))
    return results


def _encode_each(model, builder, prompts, indices, batch_size) -> dict[int, tuple[torch.Tensor, torch.Tensor]]:
    """(type probabilities, overlap scores) per prompt index, one prompt per row, in batches of similar length."""
    collator = Stage2Collator(builder.tokenizer, model.config.max_objects)
    encoded = {}
    for batch_rows in length_batches([len(prompts[i].input_ids) for i in indices], batch_size):
        chunk = [indices[row] for row in batch_rows]
        batch = collator([{"input_ids": prompts[i].input_ids} for i in chunk])
        output = model(**{key: value.to(model.device) for key, value in batch.items()})
        probabilities = output.logits.float().softmax(-1).cpu()
        overlaps = output.overlap_logits.float().sigmoid().cpu()
        for row, index in enumerate(chunk):
            encoded[index] = (probabilities[row], overlaps[row])
    return encoded


@dataclass
class Screening:
    """A typed stage 1's types are the first answer for every candidate (``Candidate.type_scores``: no
    extra encoder pass); the candidates whose type it gives less than ``threshold`` probability are typed
    again by the entity recogniser, whose answer replaces it. 0 keeps every first answer; 1 sends
    (nearly) all candidates to stage 2."""

    threshold: float

    def __post_init__(self) -> None:
        check_screening_threshold(self.threshold)

    def first_pass(
        self, recognizer: ScannerEntityRecognizer, candidates: Sequence[Candidate] | None
    ) -> list[tuple[int, float, tuple | None, float | None]]:
        """Stage 1's results for ``candidates`` (:func:`recognize`'s format, in ``recognizer``'s label ids)."""
        return detector_results(candidates, recognizer)

    def unsure(self, results: Sequence[tuple[int, float, tuple | None, float | None]], threshold: float | None = None) -> list[int]:
        """Indices of the first-pass results the entity recogniser types again (below the threshold)."""
        threshold = self.threshold if threshold is None else threshold
        return [index for index, (_, probability, _, _) in enumerate(results) if probability < threshold]


def detector_results(
    candidates: Sequence[Candidate] | None, recognizer: ScannerEntityRecognizer
) -> list[tuple[int, float, tuple | None, float | None]]:
    """A typed stage 1's answer for each candidate in :func:`recognize`'s format: its best type (in the
    recogniser's label ids) and that type's score."""
    if candidates is None or any(candidate.type_scores is None for candidate in candidates):
        raise ValueError("screening by stage 1 needs candidates from a typed span detector (config.entity_types)")
    label2id = recognizer.config.label2id
    results = []
    for candidate in candidates:
        label, score = max(candidate.type_scores.items(), key=lambda pair: pair[1])
        if label not in label2id:
            raise ValueError(f"stage 1's type {label!r} is not one of the entity recogniser's labels {list(label2id)}")
        results.append((label2id[label], score, None, None))
    return results


def recognize_screened(
    model: ScannerEntityRecognizer,
    builder: PromptBuilder,
    items: Sequence[PromptInput],
    screening: Screening | None,
    candidates: Sequence[Candidate] | None = None,
    prompts_out: list | None = None,
    **kwargs,
) -> list[tuple[int, float, tuple | None, float | None]]:
    """:func:`recognize` through ``screening`` when there is one: stage 1's types answer for all items
    (the ``candidates`` they were built from), the entity recogniser for those below the threshold
    (same result format; ``prompts_out`` gets ``None`` for the items stage 1 answered)."""
    if screening is None:
        return recognize(model, builder, items, prompts_out=prompts_out, **kwargs)
    results = screening.first_pass(model, candidates)
    unsure = screening.unsure(results)
    built: list = []
    if unsure:
        for index, result in zip(unsure, recognize(model, builder, [items[i] for i in unsure], prompts_out=built, **kwargs)):
            results[index] = result
    if prompts_out is not None:
        prompt_of = dict(zip(unsure, built))
        prompts_out.extend(prompt_of.get(index) for index in range(len(items)))
    logger.debug("screening: %d of %d candidates typed again by the entity recogniser", len(unsure), len(items))
    return results


def detect_candidates(
    detector: ScannerSpanDetector,
    tokenizer: PreTrainedTokenizerBase,
    tokens: Sequence[Sequence[str]],
    *,
    threshold: float | None = None,
    **kwargs,
) -> list[Candidate]:
    """Stage 1 over word-split sentences: every proposed span becomes a candidate (the arg-max decode;
    with ``threshold``, also the spans :func:`propose_spans` adds, which may overlap). A typed detector
    also scores each candidate's types (``Candidate.type_scores``)."""
    types = detector.config.entity_types
    probabilities = detector.predict_word_probabilities(tokens, tokenizer, typed=bool(types), **kwargs)
    return [
        Candidate(index, start, end, score=score, type_scores=span_type_scores(sentence, start, end, types) if types else None)
        for index, sentence in enumerate(probabilities)
        for start, end, score in propose_spans(span_tag_probabilities(sentence), threshold)
    ]


def resolve_overlaps(entities: Sequence[RecognizedEntity]) -> list[RecognizedEntity]:
    """Keep the highest-scoring of overlapping entities (stage 2's probability), in text order."""
    kept: list[RecognizedEntity] = []
    for entity in sorted(entities, key=lambda e: -e.score):
        if all(entity.end <= other.start or other.end <= entity.start for other in kept):
            kept.append(entity)
    return sorted(kept, key=lambda e: e.start)


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
    candidate_threshold: float | None = None,
    screening: Screening | None = None,
    return_knowledge: bool = False,
) -> list[list[RecognizedEntity]]:
    """Run both stages over word-split sentences; returns the typed entities of each sentence.

    Knowledge ``given`` per sentence wins over ``providers``; stage-2 prompts of all sentences are
    batched together, sorted by length. ``candidate_threshold`` lets stage 1 over-propose (see
    :func:`propose_spans`); overlapping accepted spans keep stage 2's best. ``screening`` puts a typed
    stage 1's types before stage 2 (:class:`Screening`). With ``return_knowledge``, each entity
    carries what its prompt was given (:func:`knowledge_used`)."""
    image_ids = image_ids if image_ids is not None else [None] * len(tokens)
    candidates = detect_candidates(
        detector, detector_tokenizer, tokens, batch_size=batch_size, max_length=max_length, threshold=candidate_threshold,
    )
    items = candidate_inputs(tokens, image_ids, candidates, providers, given=given, images=images)
    prompts: list | None = [] if return_knowledge else None
    results = recognize_screened(recognizer, builder, items, screening, candidates, prompts_out=prompts,
                                 batch_size=batch_size, box_threshold=box_threshold)
    overlapping = candidate_threshold is not None
    knowledge = [knowledge_used(item, prompt) for item, prompt in zip(items, prompts)] if prompts is not None else None
    return typed_entities(candidates, results, recognizer, len(tokens), overlapping=overlapping, knowledge=knowledge)


def typed_entities(
    candidates: Sequence[Candidate],
    results: Sequence[tuple[int, float, tuple | None, float | None]],
    recognizer: ScannerEntityRecognizer,
    sentences: int,
    *,
    overlapping: bool = False,
    knowledge: Sequence[dict] | None = None,
) -> list[list[RecognizedEntity]]:
    """Stage 2's results (:func:`recognize`) as the entities of each sentence: ``non-entity`` drops
    a candidate; ``overlapping`` candidates (stage-1 over-proposal) keep the best of each overlap;
    ``knowledge`` (per candidate) goes with each entity."""
    non_entity = recognizer.config.non_entity_id
    entities: list[list[RecognizedEntity]] = [[] for _ in range(sentences)]
    for index, (candidate, (label_id, score, box, box_score)) in enumerate(zip(candidates, results)):
        if label_id == non_entity:
            continue
        label = recognizer.config.id2label[label_id]
        entities[candidate.sentence_index].append(RecognizedEntity(
            candidate.sentence_index, candidate.start, candidate.end, label, score, box, box_score,
            knowledge[index] if knowledge is not None else None,
        ))
    return [resolve_overlaps(found) if overlapping else found for found in entities]


def entities_to_tags(entities: Sequence[RecognizedEntity], length: int) -> list[str]:
    """IOB2 tags for one sentence (stage 1's spans never overlap)."""
    if not entities:
        return [OUTSIDE] * length
    return spans_to_tags([TagSpan(e.start, e.end, e.label) for e in entities], length)


# -- from inputs to the pipeline's entity dicts: the one path of the pipeline, model.predict and the CLI --
