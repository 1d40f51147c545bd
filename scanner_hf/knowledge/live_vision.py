"""Live image knowledge from transformers models named by Hub id or folder, loaded lazily on the
accelerate device: a captioner (image-to-text, BLIP-2 in the paper), an object detector, and CLIP to
order regions by their similarity to the candidate. Results per image are cached on disk, keyed by
the image's content hash and the provider's settings, so epochs and re-runs never recompute them.

>>> captions = LiveCaptions("Salesforce/blip2-opt-2.7b", cache=KnowledgeCache("~/.cache/scanner_hf/k.sqlite"))  # doctest: +SKIP
>>> objects = LiveObjects("microsoft/...-detector", "openai/clip-vit-large-patch14", captioner=captions)        # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
from pathlib import Path
from typing import Any

import torch
from PIL import Image, UnidentifiedImageError

from ..providers import DetectedObject, Knowledge, KnowledgeProvider, KnowledgeRequest
from .cache import KnowledgeCache

logger = logging.getLogger(__name__)


def _device() -> torch.device:
    from accelerate import PartialState

    return PartialState().device


def load_image(image: Any) -> Image.Image:
    """A PIL image from a path or PIL image; a missing or corrupt file is a clear error."""
    if isinstance(image, Image.Image):
        return image.convert("RGB")
    path = Path(image)
    if not path.is_file():
        raise FileNotFoundError(f"image {path} does not exist")
    try:
        with Image.open(path) as opened:
            return opened.convert("RGB")
    except (UnidentifiedImageError, OSError) as error:
        raise ValueError(f"image {path} cannot be read: {error}") from None


def image_hash(image: Image.Image) -> str:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return hashlib.sha256(buffer.getvalue()).hexdigest()


class LiveCaptions(KnowledgeProvider):
    """Captions an image with an image-to-text model (``AutoModelForImageTextToText``)."""

    def __init__(self, model_name_or_path: str, *, max_new_tokens: int = 30, batch_size: int = 8, cache: KnowledgeCache | None = None):
        self.model_name_or_path = model_name_or_path
        self.max_new_tokens = max_new_tokens
        self.batch_size = batch_size
        self.cache = cache
        self._model = self._processor = None

    def _load(self) -> None:
        if self._model is None:
            from transformers import AutoModelForImageTextToText, AutoProcessor

            self._processor = AutoProcessor.from_pretrained(self.model_name_or_path)
            self._model = AutoModelForImageTextToText.from_pretrained(self.model_name_or_path).to(_device()).eval()

    def _key(self, image: Image.Image) -> str:
        return f"caption:{self.model_name_or_path}:{self.max_new_tokens}:{image_hash(image)}"

    @torch.no_grad()
    def caption(self, images: list[Image.Image]) -> list[str]:
        """Captions for a list of images, batched; cached ones are not recomputed."""
        keys = [self._key(image) for image in images]
        known = {key: self.cache.get(key) for key in keys} if self.cache is not None else {}
        todo = [i for i, key in enumerate(keys) if known.get(key) is None]
        if todo:
            self._load()
            for offset in range(0, len(todo), self.batch_size):
                chunk = todo[offset : offset + self.batch_size]
                inputs = self._processor(images=[images[i] for i in chunk], return_tensors="pt").to(self._model.device)
                generated = self._model.generate(**inputs, max_new_tokens=self.max_new_tokens)
                texts = self._processor.batch_decode(generated, skip_special_tokens=True)
                for index, text in zip(chunk, texts):
                    known[keys[index]] = text.strip()
                    if self.cache is not None:
                        self.cache.put(keys[index], text.strip())
        return [known[key] for key in keys]

    def provide(self, request: KnowledgeRequest) -> Knowledge:
        if request.image is None:
            return Knowledge()
        return Knowledge(caption=self.caption([load_image(request.image)])[0])


class LiveObjects(KnowledgeProvider):
    """Detects objects (``AutoModelForObjectDetection``), optionally captions each region, and orders
    the regions by CLIP similarity between the candidate text and the region crop, keeping the top
    ``max_objects``. Detection and region captions are cached per image; similarities per candidate."""

    def __init__(
        self,
        detector: str,
        clip: str | None = None,
        *,
        captioner: LiveCaptions | None = None,
        threshold: float = 0.5,
        max_objects: int = 18,
        cache: KnowledgeCache | None = None,
    ):
        self.detector_name, self.clip_name = detector, clip
        self.captioner = captioner
        self.threshold = threshold
        self.max_objects = max_objects
        self.cache = cache
        self._detector = self._detector_processor = None
        self._clip = self._clip_tokenizer = self._clip_images = None

    def _load_detector(self) -> None:
        if self._detector is None:
            from transformers import AutoImageProcessor, AutoModelForObjectDetection

            self._detector_processor = AutoImageProcessor.from_pretrained(self.detector_name)
            self._detector = AutoModelForObjectDetection.from_pretrained(self.detector_name).to(_device()).eval()

    def _load_clip(self) -> None:
        if self._clip is None:
            from transformers import AutoImageProcessor, AutoModel, AutoTokenizer

            self._clip_tokenizer = AutoTokenizer.from_pretrained(self.clip_name)
            self._clip_images = AutoImageProcessor.from_pretrained(self.clip_name)
            self._clip = AutoModel.from_pretrained(self.clip_name).to(_device()).eval()

    @torch.no_grad()
    def detect(self, image: Image.Image) -> list[DetectedObject]:
        """Regions of one image, best detector score first (cached)."""
        key = f"objects:{self.detector_name}:{self.threshold}:{self.captioner.model_name_or_path if self.captioner else ''}:{image_hash(image)}"
        cached = self.cache.get(key) if self.cache is not None else None
        if cached is not None:
            return [DetectedObject(**{**value, "box": tuple(value["box"])}) for value in json.loads(cached)]
        self._load_detector()
        inputs = self._detector_processor(images=[image], return_tensors="pt").to(self._detector.device)
        outputs = self._detector(**inputs)
        result = self._detector_processor.post_process_object_detection(
            outputs, threshold=self.threshold, target_sizes=[(image.height, image.width)]
        )[0]
        labels = self._detector.config.id2label
        objects = []
        for score, label, box in sorted(zip(result["scores"].tolist(), result["labels"].tolist(), result["boxes"].tolist()), reverse=True):
            x1, y1, x2, y2 = (max(0.0, box[0]), max(0.0, box[1]), min(float(image.width), box[2]), min(float(image.height), box[3]))
            if x2 - x1 >= 1 and y2 - y1 >= 1:
                objects.append(DetectedObject(label=labels.get(label, str(label)), box=(x1, y1, x2, y2), score=score))
        if self.captioner and objects:
            crops = [image.crop(tuple(int(v) for v in obj.box)) for obj in objects]
            for obj, caption in zip(objects, self.captioner.caption(crops)):
                obj.caption = caption
        if self.cache is not None:
            self.cache.put(key, json.dumps([{**obj.__dict__, "box": list(obj.box)} for obj in objects]))
        return objects

    def similarities(self, candidate: str, image: Image.Image, objects: list[DetectedObject]) -> list[float]:
        """CLIP cosine similarity of the candidate text with each region crop, cached on disk per
        (CLIP model, image content, regions, candidate) so epochs and repeated runs reuse it."""
        regions = json.dumps([[round(v, 2) for v in obj.box] for obj in objects])
        digest = hashlib.sha1(f"{image_hash(image)}\n{regions}\n{candidate}".encode()).hexdigest()
        key = f"clip:{self.clip_name}:{digest}"
        cached = self.cache.get(key) if self.cache is not None else None
        if cached is not None:
            return json.loads(cached)
        values = self._clip_similarities(candidate, image, objects)
        if self.cache is not None:
            self.cache.put(key, json.dumps(values))
        return values

    @torch.no_grad()
    def _clip_similarities(self, candidate: str, image: Image.Image, objects: list[DetectedObject]) -> list[float]:
        self._load_clip()
        crops = [image.crop(tuple(int(v) for v in obj.box)) for obj in objects]
        pixels = self._clip_images(images=crops, return_tensors="pt")["pixel_values"].to(self._clip.device)
        text = self._clip_tokenizer([candidate], return_tensors="pt", padding=True).to(self._clip.device)
        image_features = self._clip.get_image_features(pixel_values=pixels)
        text_features = self._clip.get_text_features(**text)
        image_features = getattr(image_features, "pooler_output", image_features)
        text_features = getattr(text_features, "pooler_output", text_features)
        image_features = image_features / image_features.norm(dim=-1, keepdim=True)
        text_features = text_features / text_features.norm(dim=-1, keepdim=True)
        return (image_features @ text_features[0]).float().cpu().tolist()

    def provide(self, request: KnowledgeRequest) -> Knowledge:
        if request.image is None:
            return Knowledge()
        image = load_image(request.image)
        objects = [DetectedObject(**obj.__dict__) for obj in self.detect(image)]
        if self.clip_name and objects and request.candidate:
            for obj, similarity in zip(objects, self.similarities(request.candidate, image, objects)):
                obj.similarity = similarity
            objects.sort(key=lambda obj: obj.similarity, reverse=True)
        return Knowledge(objects=objects[: self.max_objects])
