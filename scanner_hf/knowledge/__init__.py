"""Knowledge for stage 2's prompts: the provider interface and the sources behind it."""

from ..providers import DetectedObject, Knowledge, KnowledgeProvider, KnowledgeRequest, gather_knowledge
from .vision import PrecomputedCaptions, read_blip2_captions, read_caption_csv

__all__ = [
    "DetectedObject",
    "Knowledge",
    "KnowledgeProvider",
    "KnowledgeRequest",
    "PrecomputedCaptions",
    "gather_knowledge",
    "read_blip2_captions",
    "read_caption_csv",
]
