"""Pre- and post-processing of SCANNER inputs: every accepted input form (a string, pre-split words, or a
dict with ``text`` / ``words``, ``image``, ``caption``, ``objects`` and ``knowledge``) normalised to one
:class:`ScannerInput`, with clear errors for the rest. The pipeline and ``model.predict`` both use it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .providers import DetectedObject, Knowledge
from .tokenization import Word, split_words, words_from_tokens


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
