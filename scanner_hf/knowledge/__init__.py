"""Knowledge for stage 2's prompts: the provider interface and the sources behind it."""

from ..providers import (
    DetectedObject,
    Knowledge,
    KnowledgeProvider,
    KnowledgeRequest,
    gather_knowledge,
)
from .cache import KnowledgeCache
from .kb import EntityKB, KBEntry, KBKnowledge
from .kb_build import build_kb, build_kb_from_sources
from .kb_sources import KBRecord, KnowledgeBaseError
from .live_vision import LiveCaptions, LiveObjects
from .llm import LLMKnowledge, benchmark_llm_knowledge, read_llm_knowledge
from .vision import (
    PrecomputedCaptions,
    PrecomputedObjects,
    read_blip2_captions,
    read_caption_csv,
)

__all__ = [
    "DetectedObject",
    "EntityKB",
    "KBEntry",
    "KBKnowledge",
    "KBRecord",
    "Knowledge",
    "KnowledgeBaseError",
    "KnowledgeCache",
    "KnowledgeProvider",
    "KnowledgeRequest",
    "LLMKnowledge",
    "LiveCaptions",
    "LiveObjects",
    "PrecomputedCaptions",
    "PrecomputedObjects",
    "benchmark_llm_knowledge",
    "build_kb",
    "build_kb_from_sources",
    "gather_knowledge",
    "read_blip2_captions",
    "read_caption_csv",
    "read_llm_knowledge",
]
