"""``pipeline("scanner-ner")``: SCANNER behind the transformers pipeline API.

>>> from transformers import pipeline
>>> import scanner_hf  # registers "scanner-ner"
>>> ner = pipeline("scanner-ner", model="path/or/hub-id")                         # doctest: +SKIP
>>> ner("Steve Kerr praises the Warriors", image="tweet.jpg", caption="a man")    # doctest: +SKIP
[{'entity_group': 'PER', 'score': 0.98, 'word': 'Steve Kerr', 'start': 0, 'end': 10}, ...]

Inputs: a string, a list of strings, pre-tokenised words (``is_split_into_words=True``), or dicts with
``text`` (or ``words``), ``image`` (path or PIL image), ``caption``, ``objects`` and ``knowledge``.
Knowledge given with an input wins over the providers the checkpoint configures. ``optimize="onnx-int8"``
(or ``"int8"``, ``"onnx"``, ``"bf16"``, or a checkpoint saved with ``inference_optimization``) runs both stages faster. Output per entity is
the ``ner`` pipeline's (``entity_group``, ``score``, ``word``, ``start``, ``end``: character offsets
into the caller's text) plus ``box`` / ``box_score`` for models that ground.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from transformers import Pipeline

from .inference import Screening, predict_entities
from .optimization import optimization_of, optimize_for_inference
from .providers import DetectedObject, Knowledge, KnowledgeProvider
from .tokenization import Word, split_words, words_from_tokens

logger = logging.getLogger(__name__)


@dataclass
class ScannerInput:
    """One normalised input: the caller's text, its words with offsets, image and given knowledge."""

    text: str
    words: list[Word]
    image: Any = None
    knowledge: Knowledge = field(default_factory=Knowledge)


def _objects(values: Sequence) -> list[DetectedObject]:
    objects = []
    for index, value in enumerate(values):
        if isinstance(value, DetectedObject):
            objects.append(value)
        elif isinstance(value, dict) and "label" in value:
            box = value.get("box")
            if box is not None and len(box) != 4:
                raise ValueError(f"object {index}: 'box' must be [x1, y1, x2, y2], got {box!r}")
            objects.append(
                DetectedObject(
                    label=str(value["label"]),
                    caption=value.get("caption"),
                    box=tuple(float(v) for v in box) if box is not None else None,
                    score=value.get("score"),
                    similarity=value.get("similarity"),
                )
            )
        else:
            raise TypeError(f"object {index} must be a dict with 'label' (and 'box', 'caption', ...), got {value!r}")
    return objects


def _knowledge(value: Any) -> Knowledge:
    if value is None:
        return Knowledge()
    if isinstance(value, str):
        return Knowledge(wikipedia=value)
    if isinstance(value, dict):
        unknown = set(value) - {"wikipedia", "llm", "caption"}
        if unknown:
            raise ValueError(f"unknown knowledge keys {sorted(unknown)}; use 'wikipedia', 'llm', 'caption'")
        return Knowledge(**value)
    raise TypeError(f"'knowledge' must be a string or a dict, got {type(value).__name__}")


def _check_image(image: Any) -> Any:
    """Fail early on a missing or unreadable image; PIL images pass as they are."""
    if image is None or not isinstance(image, (str, Path)):
        return image
    from PIL import Image, UnidentifiedImageError

    path = Path(image)
    if not path.is_file():
        raise FileNotFoundError(f"image {path} does not exist")
    try:
        with Image.open(path) as opened:
            opened.verify()
    except (UnidentifiedImageError, OSError) as error:
        raise ValueError(f"image {path} cannot be read: {error}") from None
    return str(path)


def normalise_input(value: Any, *, image: Any = None, is_split_into_words: bool = False) -> ScannerInput:
    """Turn any accepted input form into a :class:`ScannerInput` (clear errors for the rest)."""
    if isinstance(value, dict):
        unknown = set(value) - {"text", "words", "image", "caption", "objects", "knowledge"}
        if unknown:
            raise ValueError(f"unknown input keys {sorted(unknown)}")
        if "words" in value:
            base = normalise_input(value["words"], is_split_into_words=True)
        elif "text" in value:
            base = normalise_input(value["text"])
        else:
            raise ValueError("an input dict needs 'text' or 'words'")
        knowledge = _knowledge(value.get("knowledge"))
        knowledge.caption = value.get("caption") or knowledge.caption
        knowledge.objects = _objects(value.get("objects") or [])
        base.image = _check_image(value.get("image", image))
        base.knowledge = knowledge
        return base
    if is_split_into_words:
        if not isinstance(value, (list, tuple)) or not all(isinstance(word, str) for word in value):
            raise TypeError("is_split_into_words=True expects a list of word strings")
        if not value or not all(word.strip() for word in value):
            raise ValueError("pre-tokenised input must be a non-empty list of non-blank words")
        text, words = words_from_tokens(list(value))
        return ScannerInput(text, words, _check_image(image))
    if not isinstance(value, str):
        raise TypeError(f"expected a string, a list of strings or a dict, got {type(value).__name__}")
    words = split_words(value)
    if not words:
        raise ValueError("the input text is empty")
    return ScannerInput(value, words, _check_image(image))


SORTING_WINDOW = 16  # batches of inputs run together, so that both stages can batch them by length


def _chunk_size(batch_size: int) -> int:
    """Inputs run together for a ``batch_size``: ``SORTING_WINDOW`` batches (one stays one)."""
    return 1 if batch_size == 1 else batch_size * SORTING_WINDOW


class ScannerNERPipeline(Pipeline):
    """SCANNER's two stages as one pipeline call; see the module docstring for inputs and outputs."""

    _load_processor = False
    _load_image_processor = False
    _load_feature_extractor = False
    _load_tokenizer = True

    def __init__(
        self,
        *args,
        providers: Sequence[KnowledgeProvider] | None = None,
        optimize: str | None = None,
        max_context_words: int | None = None,
        screen: bool = True,
        screening_threshold: float | None = None,
        **kwargs,
    ):
        """``providers`` replace the checkpoint's knowledge settings; ``optimize`` (``none``, ``int8``,
        ``onnx``, ``onnx-int8``, ``bf16``) replaces its ``inference_optimization`` and converts the model in place. Without it, a
        model already optimised (e.g. by ``scanner-ner --optimize``) is run as it is.
        ``max_context_words`` replaces the checkpoint's limit on the words one stage-2 prompt holds (0:
        no limit) for this pipeline only (the model's config is left as it is): for documents, each
        candidate then sees only the sentences around it.
        A checkpoint that screens (a screener, ``model.screener``, or a typed stage 1 with
        ``config.detector_screening``) types candidates with it first and sends the ones below its
        ``screening_threshold`` (replaced by ``screening_threshold`` here) to the entity recogniser;
        ``screen=False`` types every candidate with the entity recogniser alone."""
        super().__init__(*args, **kwargs)
        if max_context_words is not None and (type(max_context_words) is not int or max_context_words < 0):
            raise ValueError(f"max_context_words must be a number of words (0: no limit), not {max_context_words!r}")
        if optimize is None:
            already = optimization_of(self.model)
            optimize = already if already != "none" else self.model.config.inference_optimization
        optimize_for_inference(self.model, optimize)
        self.providers = list(providers) if providers is not None else default_providers(self.model.config.knowledge)
        self.builder = self.model.entity_recognizer.prompt_builder(self.tokenizer, max_context_words=max_context_words)
        self.screening = screening_of(self.model, self.tokenizer, screen, screening_threshold, max_context_words)

    def _sanitize_parameters(self, image=None, is_split_into_words=None, box_threshold=None, **kwargs):
        preprocess = {}
        if image is not None:
            preprocess["image"] = image
        if is_split_into_words is not None:
            preprocess["is_split_into_words"] = is_split_into_words
        postprocess = {}
        forward = {"box_threshold": box_threshold} if box_threshold is not None else {}
        return preprocess, forward, postprocess

    def __call__(self, inputs, *args, **kwargs):
        """One input gives a list of entities; a list of inputs gives one list per input. Datasets
        (e.g. ``KeyDataset(ds, "text")``) and generators give a generator of results, in input order.
        Inputs are run ``batch_size`` times ``SORTING_WINDOW`` at a time (a list without ``batch_size``:
        all at once; a stream without it, or ``batch_size=1``: one at a time), and each stage encodes
        them in batches of similar length (stage 1 texts, stage 2 prompts), so texts of mixed lengths
        carry little padding."""
        split = kwargs.pop("is_split_into_words", False)
        image = kwargs.pop("image", None)
        box_threshold = kwargs.pop("box_threshold", None)
        batch_size = kwargs.pop("batch_size", None)
        kwargs.pop("num_workers", None)  # the transformers idiom passes it; inputs are prepared in this process
        if args or kwargs:
            raise TypeError(f"unexpected arguments {sorted(kwargs) or args}")
        if batch_size is not None and (not isinstance(batch_size, int) or batch_size < 1):
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
        if not isinstance(inputs, (str, dict, list, tuple)):
            if not isinstance(inputs, Iterable) and not hasattr(inputs, "__getitem__"):  # torch datasets index
                raise TypeError(f"expected a string, a list of strings or a dict, got {type(inputs).__name__}")
            if isinstance(image, list):
                raise TypeError("a list of images goes with a list of inputs; give datasets of dicts with 'image' instead")
            return self._stream(iter(inputs), batch_size or 1, image, split, box_threshold)
        single = isinstance(inputs, (str, dict)) or (split and bool(inputs) and all(isinstance(w, str) for w in inputs))
        batch = [inputs] if single else list(inputs)
        images = image if isinstance(image, list) else [image] * len(batch)
        if len(images) != len(batch):
            raise ValueError(f"{len(images)} images for {len(batch)} inputs")
        prepared = [self.preprocess(value, image=img, is_split_into_words=split) for value, img in zip(batch, images)]
        step = _chunk_size(batch_size) if batch_size else max(1, len(prepared))
        results = []
        for offset in range(0, len(prepared), step):
            results += [self.postprocess(output) for output in self._run(prepared[offset : offset + step], box_threshold=box_threshold)]
        return results[0] if single else results

    def _stream(self, inputs, batch_size: int, image, split: bool, box_threshold):
        chunk: list[ScannerInput] = []
        for value in inputs:
            chunk.append(self.preprocess(value, image=image, is_split_into_words=split))
            if len(chunk) == _chunk_size(batch_size):
                yield from (self.postprocess(output) for output in self._run(chunk, box_threshold=box_threshold))
                chunk = []
        if chunk:
            yield from (self.postprocess(output) for output in self._run(chunk, box_threshold=box_threshold))

    def preprocess(self, inputs, image=None, is_split_into_words: bool = False) -> ScannerInput:
        return normalise_input(inputs, image=image, is_split_into_words=is_split_into_words)

    def _forward(self, model_inputs: ScannerInput, box_threshold: float | None = None) -> dict:
        return self._run([model_inputs], box_threshold=box_threshold)[0]

    def forward(self, model_inputs, **forward_params):
        # the stages move their own tensors; skip the base class's tensor shuffling
        return self._forward(model_inputs, **forward_params)

    def _run(self, prepared: list[ScannerInput], box_threshold: float | None = None) -> list[dict]:
        config = self.model.config
        entities = predict_entities(
            self.model.span_detector,
            self.tokenizer,
            self.model.entity_recognizer,
            self.builder,
            [[word.text for word in item.words] for item in prepared],
            None,
            self.providers,
            given=[item.knowledge for item in prepared],
            images=[item.image for item in prepared],
            box_threshold=config.box_threshold if box_threshold is None else box_threshold,
            max_length=config.stage1_max_length,
            candidate_threshold=config.candidate_threshold,
            screening=self.screening,
        )
        grounding = config.entity_recognizer_config.grounding_weight > 0
        return [{"input": item, "entities": found, "grounding": grounding} for item, found in zip(prepared, entities)]

    def postprocess(self, model_outputs: dict) -> list[dict]:
        item: ScannerInput = model_outputs["input"]
        results = []
        for entity in model_outputs["entities"]:
            start, end = item.words[entity.start].start, item.words[entity.end - 1].end
            result = {
                "entity_group": entity.label,
                "score": entity.score,
                "word": item.text[start:end],
                "start": start,
                "end": end,
            }
            if model_outputs["grounding"]:
                result["box"] = list(entity.box) if entity.box is not None else None
                result["box_score"] = entity.box_score
            results.append(result)
        return results


def screening_of(
    model, tokenizer, screen: bool = True, threshold: float | None = None, max_context_words: int | None = None
) -> Screening | None:
    """The composite's screening as the caller asks: ``screen=False`` types every candidate with stage 2
    alone; ``threshold`` replaces the checkpoint's (an error for a checkpoint that does not screen)."""
    if not screen:
        return None
    screening = model.screening(tokenizer, threshold=threshold, max_context_words=max_context_words)
    if screening is None and threshold is not None:
        raise ValueError("screening_threshold is for checkpoints that screen (a screener or detector_screening); this one does not")
    return screening


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
