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
    "KnowledgeCache",
    "LiveCaptions",
    "LiveObjects",
    "LLMKnowledge",
    "benchmark_llm_knowledge",
    "read_llm_knowledge",
    "KBRecord",
    "KnowledgeBaseError",
    "WikipediaKB",
    "WikipediaKnowledge",
    "build_kb",
    "DetectedObject",
    "Knowledge",
    "KnowledgeProvider",
    "KnowledgeRequest",
    "PrecomputedCaptions",
    "PrecomputedObjects",
    "gather_knowledge",
    "read_blip2_captions",
    "read_caption_csv",
]
