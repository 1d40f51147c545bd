"""``ScannerProcessor``: what turns a user's inputs into what SCANNER's two stages read, in the transformers
``processing_*.py`` convention (a ``ProcessorMixin`` saved and loaded with the checkpoint). It holds the
tokenizer both stages read (the backbone's plus ``<obj>``), stage 1's window (``stage1_max_length``:
longer text is windowed, never cut) and stage 2's prompt building (``max_prompt_length``, and
``max_context_words``: the words of a long input one prompt holds), and normalises every accepted input
form (a string, pre-split words, or a dict with ``text`` / ``words``, ``image``, ``caption``, ``objects``
and ``knowledge``) to one :class:`ScannerInput`, with clear errors for the rest. The pipeline,
``model.predict`` and the trainer use it.

>>> processor = ScannerProcessor.from_pretrained("runs/twitter2017/scanner")        # doctest: +SKIP
>>> processor.prepare(["Steve Kerr praises the Warriors"])[0].words[0].text         # doctest: +SKIP
'Steve'
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from transformers import PreTrainedConfig, PreTrainedTokenizerBase, ProcessorMixin
from transformers.utils import cached_file

from .prompting import PromptBuilder
from .providers import DetectedObject, Knowledge
from .tokenization import Word, split_words, words_from_tokens

logger = logging.getLogger(__name__)
# 0.1 kept these in the model's config.json; a 0.1 checkpoint has no processor_config.json
LEGACY_SETTINGS = {"stage1_max_length": (), "max_prompt_length": ("entity_recognizer_config",),
                   "max_context_words": ("entity_recognizer_config",)}


@dataclass
class ScannerInput:
    """One normalised input: the caller's text, its words with offsets, image and given knowledge."""

    text: str
    words: list[Word]
    image: Any = None
    knowledge: Knowledge = field(default_factory=Knowledge)
    image_id: str | None = None  # what precomputed knowledge files (captions, regions, LLM text) are keyed by


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
        unknown = set(value) - {"text", "words", "image", "image_id", "caption", "objects", "knowledge"}
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
        base.image_id = None if value.get("image_id") is None else str(value["image_id"])
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


def _positive_or_none(name: str, value: Any, allow_none: bool) -> None:
    if (value is None and allow_none) or (type(value) is int and value > 0):
        return
    raise ValueError(f"{name} must be a positive number{' or None' if allow_none else ''}, not {value!r}")


class ScannerProcessor(ProcessorMixin):
    """The tokenizer, stage 1's windowing and stage 2's prompt building of one SCANNER checkpoint.

    Args:
        tokenizer: the tokenizer both stages read (the backbone's, with ``<obj>``).
        stage1_max_length: sub-words per stage-1 window.
        max_prompt_length: stage-2 prompt length in tokens; knowledge is shortened to fit (never the sentence).
        max_context_words: words of the input one prompt holds at most (None: all). A longer input (a
            document) gives each candidate the sentences around it, so a candidate in a document costs
            what one in a tweet does.
    """

    def __init__(self, tokenizer=None, stage1_max_length: int = 256, max_prompt_length: int = 256,
                 max_context_words: int | None = None, **kwargs):
        _positive_or_none("stage1_max_length", stage1_max_length, False)
        _positive_or_none("max_prompt_length", max_prompt_length, False)
        _positive_or_none("max_context_words", max_context_words, True)
        self.stage1_max_length, self.max_prompt_length, self.max_context_words = stage1_max_length, max_prompt_length, max_context_words
        super().__init__(tokenizer, **kwargs)

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, **kwargs) -> ScannerProcessor:
        """As ``ProcessorMixin.from_pretrained``; a checkpoint of scanner-hf 0.1 (no ``processor_config.json``)
        gets the settings its ``config.json`` held."""
        loading = {key: kwargs[key] for key in ("cache_dir", "force_download", "local_files_only", "token", "revision") if key in kwargs}
        found = cached_file(pretrained_model_name_or_path, "processor_config.json", _raise_exceptions_for_missing_entries=False, **loading)
        if found is None:
            config_file = cached_file(pretrained_model_name_or_path, "config.json", _raise_exceptions_for_missing_entries=False, **loading)
            config = json.loads(Path(config_file).read_text()) if config_file else {}
            for name, path in LEGACY_SETTINGS.items():
                section = config
                for key in path:
                    section = section.get(key) or {}
                if name in section and name not in kwargs:
                    kwargs[name] = section[name]
        return super().from_pretrained(pretrained_model_name_or_path, **kwargs)

    def prompt_builder(self, recognizer_config: PreTrainedConfig, max_context_words: int | None = None) -> PromptBuilder:
        """Stage 2's prompt builder for a recogniser (its object budget), the prompt length capped by what
        its encoder and the tokenizer take. ``max_context_words`` replaces this processor's limit for this
        builder only (0: no limit)."""
        max_length = min(self.max_prompt_length, recognizer_config.encoder_config.max_position_embeddings, self.tokenizer.model_max_length)
        return PromptBuilder(
            self.tokenizer, max_length=max_length, max_objects=recognizer_config.max_objects,
            max_context_words=self.max_context_words if max_context_words is None else max_context_words,
        )

    def prepare(self, inputs: Any, images: Any = None, knowledge: Any = None, *, is_split_into_words: bool = False) -> list[ScannerInput]:
        """A list of inputs (texts, word lists or dicts), with an image and precomputed knowledge for
        each (``None``: none), as :class:`ScannerInput` s."""
        batch = list(inputs)
        images = list(images) if images is not None else [None] * len(batch)
        knowledge = list(knowledge) if knowledge is not None else [None] * len(batch)
        if len(images) != len(batch) or len(knowledge) != len(batch):
            raise ValueError(f"{len(batch)} inputs need as many images ({len(images)}) and knowledge entries ({len(knowledge)})")
        prepared = []
        for value, image, given in zip(batch, images, knowledge):
            if given is not None:
                value = dict(value) if isinstance(value, dict) else {"words" if is_split_into_words else "text": value}
                value["knowledge"] = given
            prepared.append(normalise_input(value, image=image, is_split_into_words=is_split_into_words))
        return prepared


# -- what stage 2 reads: candidate spans and their prompts, padded into a batch (inference and training) --

@dataclass
class Candidate:
    """A candidate span ``[start, end)`` of sentence ``sentence_index``; ``label`` is the gold type or
    ``non-entity`` (``None`` at inference); ``boxes`` the entity's gold boxes (GMNER)."""

    sentence_index: int
    start: int
    end: int
    label: str | None = None
    boxes: list[list[float]] = field(default_factory=list)
    score: float | None = None  # stage 1's confidence, when it proposed the span
    type_scores: dict[str, float] | None = None  # a typed stage 1's score of each type (see span_type_scores)


@dataclass
class Stage2Collator:
    """Pads prompts (with attention masks) and the per-object IoU targets (with -1) of a batch."""

    tokenizer: PreTrainedTokenizerBase
    max_objects: int

    def __call__(self, features: list[dict]) -> dict[str, torch.Tensor]:
        batch = self.tokenizer.pad([{"input_ids": f["input_ids"]} for f in features], return_tensors="pt")
        if "labels" in features[0]:
            batch["labels"] = torch.tensor([f["labels"] for f in features], dtype=torch.long)
        if "iou_targets" in features[0]:
            targets = torch.full((len(features), self.max_objects), -1.0)
            for row, feature in enumerate(features):
                values = feature["iou_targets"][: self.max_objects]
                targets[row, : len(values)] = torch.tensor(values, dtype=torch.float)
            batch["iou_targets"] = targets
        return dict(batch)
