"""BIO tag schemes: IOB1 -> IOB2 conversion, stray ``I-`` repair, label renaming and span extraction.

Every reader funnels its tags through :func:`normalize_tags`, so that all datasets reach the models as
clean IOB2 with one naming of the entity types, and every repair made on the way is counted.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

OUTSIDE = "O"

#: Default renaming for the Twitter sets: Twitter-2017 says ``MISC`` where Twitter-2015 and
#: Twitter-GMNER (and the papers) say ``OTHER``.
TWITTER_LABEL_MAP: dict[str, str] = {"MISC": "OTHER"}


@dataclass(frozen=True)
class TagSpan:
    """A typed span over word indices, ``end`` exclusive."""

    start: int
    end: int
    label: str


TAG_SCHEMES = ("iob1", "iob2", "bioes")


def split_tag(tag: str, *, bioes: bool = False) -> tuple[str, str | None]:
    """``"B-PER"`` -> ``("B", "PER")``; ``"O"`` -> ``("O", None)``; with ``bioes``, ``E-`` and ``S-``
    (also written ``L-``/``U-``, BILOU) are accepted too. Raises on anything else."""
    if tag == OUTSIDE:
        return OUTSIDE, None
    prefix, sep, label = tag.partition("-")
    allowed = ("B", "I", "E", "S", "L", "U") if bioes else ("B", "I")
    if not sep or prefix not in allowed or not label:
        expected = "'O' or B-, I-, E-, S- (L-, U-) with a type" if bioes else "'O', 'B-<TYPE>' or 'I-<TYPE>'"
        raise ValueError(f"not a {'BIOES' if bioes else 'BIO'} tag: {tag!r} (expected {expected})")
    return prefix, label


def bioes_to_iob2(tags: Sequence[str]) -> list[str]:
    """BIOES / BILOU to IOB2: ``S-``/``U-`` open a one-word entity (``B-``), ``E-``/``L-`` continue one (``I-``)."""
    converted = []
    for tag in tags:
        prefix, label = split_tag(tag, bioes=True)
        converted.append(tag if label is None else f"{'B' if prefix in ('B', 'S', 'U') else 'I'}-{label}")
    return converted


def detect_tag_scheme(sentences: Sequence[Sequence[str]]) -> str:
    """``"bioes"`` when any ``E-``/``S-`` (``L-``/``U-``) tag occurs; ``"iob1"`` when entities open with
    ``I-`` and ``B-`` only ever follows an entity of its own type; else ``"iob2"``."""
    opens_with_inside = begins_after_outside = False
    for tags in sentences:
        previous: str | None = None
        for tag in tags:
            if tag != OUTSIDE and tag[:2] in ("E-", "S-", "L-", "U-"):
                return "bioes"
            prefix, label = split_tag(tag)
            if prefix == "I" and previous != label:
                opens_with_inside = True
            if prefix == "B" and previous != label:
                begins_after_outside = True
            previous = label
    return "iob1" if opens_with_inside and not begins_after_outside else "iob2"


def iob1_to_iob2(tags: Sequence[str]) -> list[str]:
    """Convert IOB1 (``B-`` only between two adjacent entities of one type) to IOB2.

    In IOB1 every entity that does not touch one of its own type opens with ``I-``; opening it with
    ``B-`` is exactly the stray-``I-`` repair below, so both share one implementation.
    """
    return repair_stray_inside(tags)[0]


def repair_stray_inside(tags: Sequence[str]) -> tuple[list[str], int]:
    """Turn every ``I-X`` that follows ``O`` or another type into ``B-X``.

    This is the documented policy for IOB2 files with orphan ``I-`` tags (Twitter-2015 has
    186/53/135 per split): the orphan starts a new entity, which is also what conlleval and seqeval's
    default mode do. Returns the repaired tags and how many were repaired.
    """
    repaired: list[str] = []
    count = 0
    previous_label: str | None = None
    for tag in tags:
        prefix, label = split_tag(tag)
        if prefix == "I" and previous_label != label:
            repaired.append(f"B-{label}")
            count += 1
        else:
            repaired.append(tag)
        previous_label = label
    return repaired, count


def rename_labels(tags: Sequence[str], label_map: Mapping[str, str] | None) -> list[str]:
    """Rename entity types (``{"MISC": "OTHER"}``) keeping the BIO prefix."""
    if not label_map:
        return list(tags)
    renamed = []
    for tag in tags:
        prefix, label = split_tag(tag)
        renamed.append(tag if label is None else f"{prefix}-{label_map.get(label, label)}")
    return renamed


def tags_to_spans(tags: Sequence[str]) -> list[TagSpan]:
    """Typed spans of a clean IOB2 sequence. An ``I-`` that cannot continue a span starts one."""
    spans: list[TagSpan] = []
    start: int | None = None
    current: str | None = None
    for index, tag in enumerate(tags):
        prefix, label = split_tag(tag)
        continues = prefix == "I" and current == label
        if start is not None and not continues:
            spans.append(TagSpan(start, index, current))  # type: ignore[arg-type]
            start, current = None, None
        if prefix in ("B", "I") and not continues:
            start, current = index, label
    if start is not None:
        spans.append(TagSpan(start, len(tags), current))  # type: ignore[arg-type]
    return spans


def spans_to_tags(spans: Sequence[TagSpan], length: int) -> list[str]:
    """IOB2 tags of ``length`` words from non-overlapping spans."""
    tags = [OUTSIDE] * length
    for span in spans:
        if span.start < 0 or span.end > length or span.start >= span.end:
            raise ValueError(f"span {span} does not fit a sentence of {length} words")
        if any(tag != OUTSIDE for tag in tags[span.start : span.end]):
            raise ValueError(f"span {span} overlaps another span")
        tags[span.start] = f"B-{span.label}"
        for index in range(span.start + 1, span.end):
            tags[index] = f"I-{span.label}"
    return tags


def untyped_tags(tags: Sequence[str]) -> list[str]:
    """Strip types: ``B-PER`` -> ``B``; the stage-1 detector's target."""
    return [split_tag(tag)[0] for tag in tags]


def bio_label_list(entity_types: Sequence[str]) -> list[str]:
    """``["O", "B-LOC", "I-LOC", ...]`` in a stable order (types sorted)."""
    labels = [OUTSIDE]
    for entity_type in sorted(set(entity_types)):
        labels += [f"B-{entity_type}", f"I-{entity_type}"]
    return labels
