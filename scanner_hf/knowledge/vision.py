"""Image knowledge. Precomputed captions keyed by image id: the PGIM BLIP-2 files
(``<id>.jpg :caption`` per line) and CSV files (an image path/id column and a caption column)."""

from __future__ import annotations

import csv
import logging
from pathlib import Path

from ..providers import Knowledge, KnowledgeProvider, KnowledgeRequest

logger = logging.getLogger(__name__)


class CaptionFormatError(ValueError):
    """A caption file line could not be read."""


def image_key(name: str) -> str:
    """``data/x/16_05_01_6.jpg`` -> ``16_05_01_6``: the key every reader uses."""
    stem = Path(name.strip()).name
    return stem.rsplit(".", 1)[0] if stem.lower().endswith((".jpg", ".jpeg", ".png")) else stem


def read_blip2_captions(path: str | Path) -> dict[str, str]:
    """Read PGIM's ``<id>.jpg :<caption>`` lines into ``{image_id: caption}``."""
    captions: dict[str, str] = {}
    with open(path, encoding="utf-8") as handle:
        for line_number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            name, separator, caption = line.rstrip("\r\n").partition(" :")
            if not separator or not name.strip():
                raise CaptionFormatError(f"{path}:{line_number}: expected '<id>.jpg :<caption>', got {line.strip()!r}")
            captions[image_key(name)] = caption.strip()
    return captions


def read_caption_csv(path: str | Path, image_column: str = "img_path", caption_column: str = "seq") -> dict[str, str]:
    """Read a CSV of captions (CIModel's ``img_path,seq`` by default) into ``{image_id: caption}``."""
    with open(path, encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        missing = {image_column, caption_column} - set(reader.fieldnames or [])
        if missing:
            raise CaptionFormatError(f"{path}: missing columns {sorted(missing)} (has {reader.fieldnames})")
        return {image_key(row[image_column]): row[caption_column].strip() for row in reader}


class PrecomputedCaptions(KnowledgeProvider):
    """Captions looked up by image id. An unknown id gives no caption and is counted and logged once
    per id (the prompt then simply has no caption part)."""

    def __init__(self, captions: dict[str, str]):
        self.captions = captions
        self.missing: set[str] = set()

    @classmethod
    def from_file(cls, path: str | Path) -> PrecomputedCaptions:
        path = Path(path)
        reader = read_caption_csv if path.suffix.lower() == ".csv" else read_blip2_captions
        return cls(reader(path))

    def provide(self, request: KnowledgeRequest) -> Knowledge:
        if request.image_id is None:
            return Knowledge()
        caption = self.captions.get(request.image_id)
        if caption is None and request.image_id not in self.missing:
            self.missing.add(request.image_id)
            logger.warning("no precomputed caption for image %r; prompt goes without one", request.image_id)
        return Knowledge(caption=caption)
