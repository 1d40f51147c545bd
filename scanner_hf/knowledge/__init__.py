"""Knowledge for stage 2's prompts: the provider interface and the sources behind it."""

from ..providers import (
    DetectedObject,
    Knowledge,
    KnowledgeProvider,
    KnowledgeRequest,
    gather_knowledge,
)
from .cache import KnowledgeCache
from .live_vision import LiveCaptions, LiveObjects
from .llm import LLMKnowledge, benchmark_llm_knowledge, read_llm_knowledge
from .vision import (
    PrecomputedCaptions,
    PrecomputedObjects,
    read_blip2_captions,
    read_caption_csv,
)
from .wikipedia import (
    KBRecord,
    KnowledgeBaseError,
    WikipediaKB,
    WikipediaKnowledge,
    build_kb,
)

__all__ = [
    "DetectedObject",
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
    "WikipediaKB",
    "WikipediaKnowledge",
    "benchmark_llm_knowledge",
    "build_kb",
    "gather_knowledge",
    "read_blip2_captions",
    "read_caption_csv",
    "read_llm_knowledge",
]
