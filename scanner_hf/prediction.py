"""Prediction over raw inputs, the one path behind ``model.predict``, the pipeline, the CLI and the service:
inputs are normalised by the checkpoint's processor, run through both stages (:mod:`.inference`) in chunks
of ``SORTING_WINDOW`` batches, and come back as the ``ner`` pipeline's entity dicts.

Importing this module registers :func:`predict` as :class:`~.modeling_scanner.ScannerForMultimodalNER`'s
``predict`` (``import scanner_hf`` does), so that modeling never imports the inference layer.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from .inference import RecognizedEntity, Screening, predict_entities
from .modeling_base import register_predictor
from .modeling_scanner import ScannerForMultimodalNER
from .prompting import PromptBuilder
from .providers import KnowledgeProvider

logger = logging.getLogger(__name__)

SORTING_WINDOW = 16  # batches of inputs run together, so that both stages can batch them by length


def chunk_size(batch_size: int) -> int:
    """Inputs run together for a ``batch_size``: ``SORTING_WINDOW`` batches (one stays one)."""
    return 1 if batch_size == 1 else batch_size * SORTING_WINDOW


def screening_of(model, screen: bool = True, threshold: float | None = None) -> Screening | None:
    """The composite's screening as the caller asks: ``screen=False`` types every candidate with stage 2
    alone; ``threshold`` replaces the checkpoint's (an error for a checkpoint that does not screen)."""
    if not model.config.stage1_screening:
        if screen and threshold is not None:
            raise ValueError("screening_threshold is for checkpoints that screen (stage1_screening); this one does not")
        return None
    if not screen:
        return None
    return Screening(model.config.screening_threshold if threshold is None else threshold)


def default_providers(settings: dict | None) -> list[KnowledgeProvider]:
    """Providers named by a checkpoint's ``knowledge`` settings (see ``scanner_hf.knowledge.factory``;
    they need the installed scanner-hf package). Without the package, or for a source that cannot be
    built on this machine, the model runs without that knowledge after one logged warning saying what
    is off and how to turn it on; knowledge passed with the inputs still works."""
    if not settings:
        return []
    try:
        from scanner_hf.knowledge.factory import providers_from_settings
    except ImportError:
        logger.warning(
            "this checkpoint's knowledge (%s) is built by the scanner-hf package, which is not installed here: predicting "
            "without it. To turn it on: pip install scanner-hf (or pass knowledge with each input)", ", ".join(sorted(settings)),
        )
        return []
    return providers_from_settings(settings, strict=False)


def predict_inputs(
    model,
    processor,
    prepared: Sequence,
    providers: Sequence[KnowledgeProvider],
    builder: PromptBuilder,
    *,
    screening: Screening | None = None,
    box_threshold: float | None = None,
    batch_size: int = 64,
    return_knowledge: bool = False,
) -> list[list[dict]]:
    """Both stages of the composite ``model`` over normalised inputs (``processing_scanner.ScannerInput``),
    stage 1 windowed and read through ``processor`` (a ``ScannerProcessor``),
    as the ``ner`` pipeline's entity dicts per input: ``entity_group``, ``score``, ``word``, ``start``,
    ``end`` (character offsets into the input's text), plus ``box`` / ``box_score`` for models that ground."""
    config = model.config
    entities = predict_entities(
        model.span_detector, processor.tokenizer, model.entity_recognizer, builder, [[word.text for word in item.words] for item in prepared],
        [item.image_id for item in prepared], providers, given=[item.knowledge for item in prepared], images=[item.image for item in prepared],
        batch_size=batch_size, box_threshold=config.box_threshold if box_threshold is None else box_threshold,
        max_length=processor.stage1_max_length, candidate_threshold=config.candidate_threshold, screening=screening,
        return_knowledge=return_knowledge,
    )
    grounding = config.entity_recognizer_config.grounding_weight > 0
    return [entity_dicts(item, found, grounding) for item, found in zip(prepared, entities)]


def entity_dicts(item, entities: Sequence[RecognizedEntity], grounding: bool) -> list[dict]:
    """One input's entities as dicts with character offsets into its text."""
    results = []
    for entity in entities:
        start, end = item.words[entity.start].start, item.words[entity.end - 1].end
        result = {"entity_group": entity.label, "score": entity.score, "word": item.text[start:end], "start": start, "end": end}
        if grounding:
            result["box"] = list(entity.box) if entity.box is not None else None
            result["box_score"] = entity.box_score
        if entity.knowledge is not None:
            result["knowledge"] = entity.knowledge
        results.append(result)
    return results


def predict(
    model: ScannerForMultimodalNER,
    inputs: str | dict | Sequence[str | dict | Sequence[str]],
    images: Any | Sequence[Any] | None = None,
    knowledge: Any | Sequence[Any] | None = None,
    *,
    is_split_into_words: bool = False,
    providers: Sequence | None = None,
    batch_size: int = 64,
    box_threshold: float | None = None,
    screen: bool = True,
    screening_threshold: float | None = None,
    max_context_words: int | None = None,
    return_knowledge: bool = False,
) -> list[dict] | list[list[dict]]:
    """The entities of each input, as the ``scanner-ner`` pipeline returns them (``entity_group``,
    ``score``, ``word``, ``start``, ``end``; ``box`` / ``box_score`` for grounding models).

    Args:
        inputs: a text, pre-split words (``is_split_into_words=True``), a dict with ``text`` (or
            ``words``), ``image``, ``caption``, ``objects`` and ``knowledge``, or a list of these. A
            single input gives one list of entities, a list gives one list per input.
        images: an image (path or PIL) for a single input, or one per input (``None`` for none).
        knowledge: precomputed knowledge (a string of KB text, or a dict with ``wikipedia``,
            ``llm``, ``caption``), one per input; it wins over ``providers``.
        providers: knowledge providers; default: those the checkpoint's ``knowledge`` settings name.
        batch_size: inputs per batch; ``SORTING_WINDOW`` batches run together, sorted by length.
        box_threshold / screening_threshold / max_context_words: replace the checkpoint's for
            this call; ``screen=False`` types every candidate with stage 2 alone.
        return_knowledge: each entity also carries ``knowledge``, what its prompt was given: the KB
            entries (title, types, description, the name that matched), the caption, the LLM text, the
            objects, and ``cut``, what the prompt's token budget shortened (see ``inference.knowledge_used``).
    """
    if model.processor is None:
        raise ValueError("this model has no tokenizer: load it with from_pretrained or from_encoder, or set model.tokenizer")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    single = isinstance(inputs, (str, dict)) or (
        is_split_into_words and bool(inputs) and all(isinstance(word, str) for word in inputs)
    )
    if single:
        inputs, images, knowledge = [inputs], [images], [knowledge]
    prepared = model.processor.prepare(inputs, images, knowledge, is_split_into_words=is_split_into_words)
    if providers is None:
        if model._default_providers is None:
            model._default_providers = default_providers(model.config.knowledge)
        providers = model._default_providers
    builder = model.processor.prompt_builder(model.entity_recognizer.config, max_context_words=max_context_words)
    screening = screening_of(model, screen, screening_threshold)
    step = chunk_size(batch_size)
    results: list[list[dict]] = []
    for offset in range(0, len(prepared), step):
        results += predict_inputs(model, model.processor, prepared[offset : offset + step], providers, builder,
                                  screening=screening, box_threshold=box_threshold, batch_size=batch_size,
                                  return_knowledge=return_knowledge)
    return results[0] if single else results


register_predictor(ScannerForMultimodalNER.config_class.model_type, predict)
