"""Image knowledge keyed by image id: precomputed captions (PGIM's BLIP-2 files, ``<id>.jpg :caption``
per line, and CSV files) and precomputed candidate regions (``<id>.json`` lists or the GMNER authors'
VinVL ``<id>.npz`` files)."""

from __future__ import annotations

import csv
import json
import logging
from pathlib import Path

from ..providers import DetectedObject, Knowledge, KnowledgeProvider, KnowledgeRequest

logger = logging.getLogger(__name__)


class CaptionFormatError(ValueError):
    """A caption file line could not be read."""


class ObjectFormatError(ValueError):
    """A candidate-region file could not be read."""


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

    @classmethod
    def from_files(cls, paths: list[str | Path]) -> PrecomputedCaptions:
        """Captions from several files (e.g. BLIP2_15 and BLIP2_17 for Twitter-GMNER); later files win."""
        captions: dict[str, str] = {}
        for path in paths:
            captions.update(cls.from_file(path).captions)
        return cls(captions)

    def provide(self, request: KnowledgeRequest) -> Knowledge:
        if request.image_id is None:
            return Knowledge()
        caption = self.captions.get(request.image_id)
        if caption is None and request.image_id not in self.missing:
            self.missing.add(request.image_id)
            logger.warning("no precomputed caption for image %r; prompt goes without one", request.image_id)
        return Knowledge(caption=caption)


def read_objects_json(path: str | Path) -> list[DetectedObject]:
    """``[{"box": [x1, y1, x2, y2], "label": ..., "caption": ..., "score": ...}, ...]``."""
    try:
        values = json.loads(Path(path).read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise ObjectFormatError(f"{path}: not JSON ({error.msg})") from None
    if not isinstance(values, list):
        raise ObjectFormatError(f"{path}: expected a list of objects")
    objects = []
    for index, value in enumerate(values):
        box = value.get("box") if isinstance(value, dict) else None
        if not isinstance(value, dict) or "label" not in value or box is None or len(box) != 4:
            raise ObjectFormatError(f"{path}: object {index} needs 'label' and a 4-number 'box'")
        objects.append(
            DetectedObject(
                label=str(value["label"]), caption=value.get("caption"), box=tuple(float(v) for v in box),
                score=value.get("score"), similarity=value.get("similarity"),
            )
        )
    return objects


def read_vinvl_npz(path: str | Path) -> list[DetectedObject]:
    """The GMNER authors' VinVL candidate files: ``bounding_boxes`` (N x 4), ``scores`` and ``objects``
    (class names), best-scored first."""
    import numpy as np

    with np.load(path, allow_pickle=True) as data:
        missing = {"bounding_boxes", "objects"} - set(data.files)
        if missing:
            raise ObjectFormatError(f"{path}: missing arrays {sorted(missing)} (has {data.files})")
        boxes, names = data["bounding_boxes"], data["objects"]
        scores = data["scores"] if "scores" in data.files else [None] * len(boxes)
    objects = [
        DetectedObject(label=str(name), box=tuple(float(v) for v in box[:4]), score=None if score is None else float(score))
        for box, name, score in zip(boxes, names, scores)
    ]
    return sorted(objects, key=lambda obj: -(obj.score or 0.0))


class PrecomputedObjects(KnowledgeProvider):
    """Candidate regions per image from a folder of ``<image_id>.json`` or VinVL ``<image_id>.npz``
    files. An image with no file gets no objects (counted, logged once per image)."""

    def __init__(self, folder: str | Path):
        self.folder = Path(folder)
        if not self.folder.is_dir():
            raise FileNotFoundError(f"object folder {self.folder} does not exist")
        self.missing: set[str] = set()
        self._cache: dict[str, list[DetectedObject]] = {}

    def objects_for(self, image_id: str) -> list[DetectedObject]:
        if image_id not in self._cache:
            json_path, npz_path = self.folder / f"{image_id}.json", self.folder / f"{image_id}.npz"
            if json_path.exists():
                self._cache[image_id] = read_objects_json(json_path)
            elif npz_path.exists():
                self._cache[image_id] = read_vinvl_npz(npz_path)
            else:
                if image_id not in self.missing:
                    logger.warning("no candidate regions for image %r in %s", image_id, self.folder)
                self.missing.add(image_id)
                self._cache[image_id] = []
        return self._cache[image_id]

    def provide(self, request: KnowledgeRequest) -> Knowledge:
        return Knowledge(objects=list(self.objects_for(request.image_id))) if request.image_id else Knowledge()
