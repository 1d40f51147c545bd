"""Knowledge providers from plain settings (a recipe's ``knowledge`` section or a checkpoint's
``knowledge`` config), so training and the pipeline build them the same way.

Keys: ``wikipedia`` (KB file, or ``"ovos"`` for the default KB, built on first use), ``captions``
(precomputed caption file or list of files), ``objects`` (folder of precomputed regions), and the live
models ``captioner``, ``detector``, ``clip`` (Hub ids or folders) with ``max_objects``,
``detector_threshold`` and ``cache`` (the on-disk knowledge cache file). Precomputed sources come
before live ones, so they win where both exist.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from ..providers import KnowledgeProvider
from .cache import KnowledgeCache
from .live_vision import LiveCaptions, LiveObjects
from .vision import PrecomputedCaptions, PrecomputedObjects
from .wikipedia import (
    KnowledgeBaseError,
    WikipediaKnowledge,
    build_kb,
    default_kb_path,
    records_for_source,
)

logger = logging.getLogger(__name__)

KNOWLEDGE_KEYS = {"wikipedia", "captions", "objects", "captioner", "detector", "clip", "max_objects", "detector_threshold", "cache", "llm"}


def wikipedia_kb_path(setting: str) -> Path:
    """A KB file as named in settings; ``"ovos"`` is the default KB, built on first use."""
    if setting != "ovos":
        return Path(setting)
    return build_kb(records_for_source("ovos"), default_kb_path("ovos"), source="ovos")


def providers_from_settings(settings: dict[str, Any] | None, *, strict: bool = True) -> list[KnowledgeProvider]:
    """The providers the settings name (none: text only). ``llm`` is aligned to a dataset and is
    added by the recipe, not here. With ``strict=False`` (loading a checkpoint on another machine), a
    provider that cannot be built here (KB package missing, file absent) is skipped with a warning."""
    settings = {key: value for key, value in (settings or {}).items() if value not in (None, False, [], "")}
    unknown = set(settings) - KNOWLEDGE_KEYS
    if unknown:
        raise ValueError(f"unknown knowledge settings {sorted(unknown)}; known: {sorted(KNOWLEDGE_KEYS)}")
    cache = KnowledgeCache(settings["cache"]) if "cache" in settings else None
    captioner = LiveCaptions(settings["captioner"], cache=cache) if "captioner" in settings else None
    builders = {
        "wikipedia": lambda: WikipediaKnowledge(wikipedia_kb_path(settings["wikipedia"])),
        "captions": lambda: PrecomputedCaptions.from_files(
            [settings["captions"]] if isinstance(settings["captions"], str) else list(settings["captions"])
        ),
        "objects": lambda: PrecomputedObjects(settings["objects"]),
        "captioner": lambda: captioner,
        "detector": lambda: LiveObjects(
            settings["detector"], settings.get("clip"), captioner=captioner, cache=cache,
            threshold=float(settings.get("detector_threshold", 0.5)), max_objects=int(settings.get("max_objects", 18)),
        ),
    }
    providers: list[KnowledgeProvider] = []
    for key, build in builders.items():
        if key not in settings:
            continue
        try:
            providers.append(build())
        except (OSError, KnowledgeBaseError, ValueError) as error:
            if strict:
                raise
            logger.warning("knowledge source %r is not available here and is skipped: %s", key, error)
    return providers
