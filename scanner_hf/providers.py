"""The knowledge-provider interface stage 2 uses: a request about one candidate in one sentence (and
image), and the knowledge that providers return for it.

A provider fills some fields of :class:`Knowledge` (Wikipedia text, a caption, objects, LLM text);
:func:`gather_knowledge` asks each provider in turn and merges what they give, so stage 2 works with
no provider at all (text only), with precomputed captions, or with live models, unchanged.
"""

from __future__ import annotations

import dataclasses
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass
class DetectedObject:
    """An image region as knowledge: class name, optional region caption, box and scores."""

    label: str
    caption: str | None = None
    box: tuple[float, float, float, float] | None = None  # x1, y1, x2, y2 in pixels
    score: float | None = None  # detector confidence
    similarity: float | None = None  # to the candidate (CLIP), for ordering

    def text(self) -> str:
        return f"{self.label}, {self.caption}" if self.caption else self.label


@dataclass
class Knowledge:
    """What stage 2's prompt can say about a candidate. ``None`` / empty means not available."""

    wikipedia: str | None = None
    caption: str | None = None
    objects: list[DetectedObject] = field(default_factory=list)
    llm: str | None = None
    # the KB entries behind ``wikipedia`` (``KBEntry.as_dict``), for ``return_knowledge``; prompts never read it
    kb_entries: list[dict] = field(default_factory=list)

    def with_objects_ordered(self) -> Knowledge:
        """Objects by descending similarity to the candidate when all have one; else unchanged."""
        if not self.objects or any(obj.similarity is None for obj in self.objects):
            return self
        ordered = sorted(self.objects, key=lambda obj: obj.similarity, reverse=True)  # type: ignore[arg-type,return-value]
        return dataclasses.replace(self, objects=ordered)

    def merged_with(self, other: Knowledge) -> Knowledge:
        """Fields of ``self`` win; empty ones are taken from ``other``."""
        values = {}
        for item in dataclasses.fields(self):
            mine = getattr(self, item.name)
            values[item.name] = mine if mine else getattr(other, item.name)
        return Knowledge(**values)


@dataclass(frozen=True)
class KnowledgeRequest:
    """One candidate in context. ``image`` is a path or PIL image when a live provider needs pixels."""

    sentence: str
    candidate: str
    image_id: str | None = None
    image: Any = None


class KnowledgeProvider(ABC):
    """Returns the knowledge it can for a request; fields it does not provide stay empty."""

    @abstractmethod
    def provide(self, request: KnowledgeRequest) -> Knowledge: ...

    def prefetch(self, requests: Sequence[KnowledgeRequest]) -> None:
        """Prepare answers for many requests at once (batched or concurrent work); optional."""


def gather_knowledge(providers: Sequence[KnowledgeProvider], request: KnowledgeRequest) -> Knowledge:
    """Merge the providers' answers, earlier providers first."""
    knowledge = Knowledge()
    for provider in providers:
        knowledge = knowledge.merged_with(provider.provide(request))
    return knowledge
