"""Live captions and objects through the real loading and inference code, on tiny random models
built from configs and saved to folders, and generated images."""

import pytest
import torch
from PIL import Image, ImageDraw
from transformers import (
    BlipConfig,
    BlipForConditionalGeneration,
    BlipImageProcessor,
    BlipProcessor,
    CLIPConfig,
    CLIPImageProcessor,
    CLIPModel,
    YolosConfig,
    YolosForObjectDetection,
    YolosImageProcessor,
)

from scanner_hf.knowledge import KnowledgeCache, LiveCaptions, LiveObjects
from scanner_hf.providers import KnowledgeRequest

TINY = {"hidden_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2, "intermediate_size": 37}


@pytest.fixture(scope="module")
def image_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("img") / "tweet.png"
    image = Image.new("RGB", (64, 48), "white")
    draw = ImageDraw.Draw(image)
    draw.ellipse([5, 5, 30, 40], fill="red")
    draw.rectangle([35, 10, 60, 30], fill="blue")
    image.save(path)
    return path


@pytest.fixture(scope="module")
def captioner_dir(tmp_path_factory, tiny_tokenizer):
    folder = tmp_path_factory.mktemp("blip")
    torch.manual_seed(0)
    special = {"bos_token_id": tiny_tokenizer.cls_token_id, "eos_token_id": tiny_tokenizer.sep_token_id, "pad_token_id": tiny_tokenizer.pad_token_id, "sep_token_id": tiny_tokenizer.sep_token_id}
    config = BlipConfig(
        text_config={**TINY, "vocab_size": len(tiny_tokenizer), "max_position_embeddings": 64, **special},
        vision_config={**TINY, "image_size": 32, "patch_size": 8},
        projection_dim=16,
    )
    BlipForConditionalGeneration(config).save_pretrained(folder)
    BlipProcessor(BlipImageProcessor(size={"height": 32, "width": 32}), tiny_tokenizer).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def detector_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("yolos")
    torch.manual_seed(0)
    config = YolosConfig(**TINY, image_size=[32, 32], patch_size=8, num_detection_tokens=6, num_labels=3, id2label={0: "person", 1: "ball", 2: "logo"}, label2id={"person": 0, "ball": 1, "logo": 2})
    YolosForObjectDetection(config).save_pretrained(folder)
    YolosImageProcessor(size={"shortest_edge": 32, "longest_edge": 32}).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def clip_dir(tmp_path_factory, tiny_tokenizer):
    folder = tmp_path_factory.mktemp("clip")
    torch.manual_seed(0)
    config = CLIPConfig(
        text_config={**TINY, "vocab_size": len(tiny_tokenizer), "max_position_embeddings": 64, "eos_token_id": tiny_tokenizer.sep_token_id},
        vision_config={**TINY, "image_size": 32, "patch_size": 8},
        projection_dim=16,
    )
    CLIPModel(config).save_pretrained(folder)
    CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}).save_pretrained(folder)
    tiny_tokenizer.save_pretrained(folder)
    return folder


def test_live_captions_are_generated_and_cached(captioner_dir, image_path, tmp_path):
    cache = KnowledgeCache(tmp_path / "k.sqlite")
    provider = LiveCaptions(str(captioner_dir), max_new_tokens=4, cache=cache)
    caption = provider.provide(KnowledgeRequest(sentence="s", candidate="c", image=str(image_path))).caption
    assert isinstance(caption, str) and len(cache) == 1
    again = LiveCaptions(str(captioner_dir), max_new_tokens=4, cache=cache)
    assert again.provide(KnowledgeRequest(sentence="s", candidate="c", image=str(image_path))).caption == caption
    assert again._model is None  # served from the disk cache: the model was never loaded


def test_live_objects_detect_caption_and_order_by_clip(detector_dir, clip_dir, captioner_dir, image_path, tmp_path):
    cache = KnowledgeCache(tmp_path / "k.sqlite")
    provider = LiveObjects(
        str(detector_dir), str(clip_dir), captioner=LiveCaptions(str(captioner_dir), max_new_tokens=3, cache=cache),
        threshold=0.0, max_objects=4, cache=cache,
    )
    objects = provider.provide(KnowledgeRequest(sentence="s", candidate="steve kerr", image=str(image_path))).objects
    assert 1 <= len(objects) <= 4
    assert all(obj.label in {"person", "ball", "logo"} and obj.caption is not None for obj in objects)
    assert all(0 <= obj.box[0] < obj.box[2] <= 64 and 0 <= obj.box[1] < obj.box[3] <= 48 for obj in objects)
    similarities = [obj.similarity for obj in objects]
    assert similarities == sorted(similarities, reverse=True)
    cached = LiveObjects(  # same settings: served from the disk cache
        str(detector_dir), str(clip_dir), captioner=LiveCaptions(str(captioner_dir), max_new_tokens=3, cache=cache),
        threshold=0.0, max_objects=4, cache=cache,
    )
    assert [o.box for o in cached.detect(Image.open(image_path).convert("RGB"))] == [o.box for o in provider.detect(Image.open(image_path).convert("RGB"))]
    assert cached._detector is None
    request = KnowledgeRequest(sentence="s", candidate="steve kerr", image=str(image_path))
    assert [o.similarity for o in cached.provide(request).objects] == similarities
    assert cached._clip is None  # candidate-level CLIP scores also came from the disk cache
    other = cached.provide(KnowledgeRequest(sentence="s", candidate="the warriors", image=str(image_path))).objects
    assert cached._clip is not None and len(other) == len(objects)  # a new candidate is scored, then cached


def test_missing_and_corrupt_images_are_errors(captioner_dir, tmp_path):
    provider = LiveCaptions(str(captioner_dir))
    with pytest.raises(FileNotFoundError):
        provider.provide(KnowledgeRequest(sentence="s", candidate="c", image=str(tmp_path / "none.jpg")))
    corrupt = tmp_path / "bad.jpg"
    corrupt.write_bytes(b"\xff\xd8 not really a jpeg")
    with pytest.raises(ValueError, match="cannot be read"):
        provider.provide(KnowledgeRequest(sentence="s", candidate="c", image=str(corrupt)))
    assert provider.provide(KnowledgeRequest(sentence="s", candidate="c")).caption is None  # no image: nothing
