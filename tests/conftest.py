"""Shared fixtures: a tiny BERT encoder and tokenizer built locally (no downloads), and the path to
the real benchmarks in ../shared/data when it exists."""

from __future__ import annotations

import random
import string
from pathlib import Path

import datasets
import pytest
import torch
import yaml
from transformers import BertConfig, BertModel, BertTokenizer

from scanner_hf import (
    ScannerEntityRecognizer,
    ScannerEntityRecognizerConfig,
    ScannerForMultimodalNER,
    ScannerSpanDetector,
    ScannerSpanDetectorConfig,
)
from scanner_hf.data import ner_features
from scanner_hf.tokenization import add_object_token

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"

WORDS = ["steve", "kerr", "praises", "the", "warriors", "in", "paris", "rt", "@", ":", "#", ".", ",", "!", "?", "-", "'", "nba", "obama", "visits", "new", "york", "city", "john", "smith", "apple", "google", "love", "game", "today", "at", "of", "and", "is", "a", "on", "for", "with"]


def tiny_vocab() -> dict[str, int]:
    tokens = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    tokens += sorted(set(WORDS))
    tokens += list(string.ascii_lowercase + string.digits + string.punctuation)
    tokens += ["##" + char for char in string.ascii_lowercase + string.digits]
    unique = list(dict.fromkeys(tokens))
    return {token: index for index, token in enumerate(unique)}


@pytest.fixture(scope="session")
def tiny_tokenizer() -> BertTokenizer:
    return BertTokenizer(vocab=tiny_vocab(), model_max_length=512)


@pytest.fixture(scope="session")
def tiny_encoder_config(tiny_tokenizer) -> BertConfig:
    return BertConfig(
        vocab_size=len(tiny_tokenizer),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=48,
        max_position_embeddings=128,
    )


def stage2_tokenizer_from(tiny_tokenizer: BertTokenizer) -> BertTokenizer:
    """A copy of the tiny tokenizer with stage 2's ``<obj>`` token added."""
    tokenizer = tiny_tokenizer.__class__(vocab=dict(tiny_tokenizer.get_vocab()), model_max_length=512)
    add_object_token(tokenizer)
    return tokenizer


def tiny_recognizer(tokenizer: BertTokenizer, tiny_encoder_config: BertConfig, **config_kwargs) -> ScannerEntityRecognizer:
    """A random tiny stage 2 (seed 0) sized to ``tokenizer``, PER/LOC, in eval mode."""
    torch.manual_seed(0)
    encoder_config = tiny_encoder_config.__class__(**{**tiny_encoder_config.to_dict(), "vocab_size": len(tokenizer)})
    config = ScannerEntityRecognizerConfig(
        encoder_config=encoder_config, entity_types=["PER", "LOC"], mask_token_id=tokenizer.mask_token_id,
        object_token_id=tokenizer.convert_tokens_to_ids("<obj>"), **config_kwargs,
    )
    return ScannerEntityRecognizer(config).eval()


@pytest.fixture()
def stage2_tokenizer(tiny_tokenizer) -> BertTokenizer:
    return stage2_tokenizer_from(tiny_tokenizer)


@pytest.fixture(scope="session")
def tiny_backbone_dir(tmp_path_factory, tiny_tokenizer, tiny_encoder_config) -> Path:
    """A saved tiny encoder + tokenizer folder, loadable like a Hub backbone. Its random weights are
    seeded (in a forked RNG state): tests that train from it must not depend on the process's seed."""
    folder = tmp_path_factory.mktemp("tiny_backbone")
    with torch.random.fork_rng():
        torch.manual_seed(0)
        BertModel(tiny_encoder_config).save_pretrained(folder)
    tiny_tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"the real benchmarks are not at {SHARED_DATA} (they live beside the repo in shared/data)")
    return SHARED_DATA


# ---- small data sets and recipes that several test files use ------------------------------------

ENTITIES = [["steve", "kerr"], ["paris"], ["nba"], ["new", "york", "city"], ["john", "smith"], ["google"]]
FILLER = ["love", "the", "game", "today", "at", "of", "and", "is", "a", "on"]


def write_twitter_folder(root, sentences_per_split=24, seed=0):
    """A small Twitter-2017-shaped folder (IMGID lines, tab-separated, MISC type included)."""
    rng = random.Random(seed)
    folder = root / "twitter2017"
    folder.mkdir(parents=True)
    for split in ("train", "valid", "test"):
        lines = []
        for index in range(sentences_per_split):
            lines.append(f"IMGID:{split}_{index}")
            for _ in range(3):
                lines += [f"{word}\tO" for word in rng.sample(FILLER, 2)]
                entity = rng.choice(ENTITIES)
                label = rng.choice(["PER", "LOC", "ORG", "MISC"])
                lines += [f"{word}\t{'B' if i == 0 else 'I'}-{label}" for i, word in enumerate(entity)]
            lines.append("")
        (folder / f"{split}.txt").write_text("\n".join(lines), encoding="utf-8")
    return root


def write_recipe(tmp_path, **values):
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(values))
    return path


def split_of(rows):
    names = ["O", "B-LOC", "I-LOC", "B-PER", "I-PER"]
    ids = {n: i for i, n in enumerate(names)}
    return datasets.Dataset.from_list(
        [{"id": str(i), "tokens": t, "ner_tags": [ids[x] for x in tags], "image_id": str(i)} for i, (t, tags) in enumerate(rows)],
        features=ner_features(names, with_boxes=False),
    )


ENTITY_WORDS = ("steve", "kerr", "paris")


def composite(tiny_tokenizer, tiny_encoder_config, grounding_weight=0.0):
    """A tiny composite whose stage 1 tags words from ENTITY_WORDS and whose stage 2 says LOC."""
    torch.manual_seed(0)
    tokenizer = stage2_tokenizer_from(tiny_tokenizer)
    detector = ScannerSpanDetector(ScannerSpanDetectorConfig(encoder_config=tiny_encoder_config))
    encoder_config = tiny_encoder_config.__class__(**{**tiny_encoder_config.to_dict(), "vocab_size": len(tokenizer)})
    recognizer = ScannerEntityRecognizer(
        ScannerEntityRecognizerConfig(
            encoder_config=encoder_config, entity_types=["PER", "LOC"], grounding_weight=grounding_weight,
            mask_token_id=tokenizer.mask_token_id, object_token_id=tokenizer.convert_tokens_to_ids("<obj>"),
        )
    )
    vocab = tokenizer.get_vocab()
    with torch.no_grad():
        # stage 1: the word embedding itself decides the tag (B for entity words, O otherwise)
        embeddings = detector.encoder.get_input_embeddings().weight
        marker = torch.zeros(embeddings.shape[1])
        marker[0] = 1.0
        for word in ENTITY_WORDS:
            embeddings[vocab[word]] += 50 * marker
        detector.classifier.weight.zero_()
        detector.classifier.weight[1, 0] = 1.0
        detector.classifier.bias.copy_(torch.tensor([0.0, -2.0, -50.0]))
        recognizer.classifier.weight.zero_()
        recognizer.classifier.bias.copy_(torch.tensor([0.0, 5.0, 0.0]))
        recognizer.grounding_head.weight.zero_()
        recognizer.grounding_head.bias.fill_(3.0)
    detector.encoder.embeddings.LayerNorm.weight.data.fill_(1.0)
    return ScannerForMultimodalNER.from_stages(detector, recognizer), tokenizer


@pytest.fixture()
def saved(tmp_path, tiny_tokenizer, tiny_encoder_config) -> Path:
    """The tiny composite of :func:`composite`, saved through the pipeline as a checkpoint folder."""
    from scanner_hf import ScannerNERPipeline

    model, tokenizer = composite(tiny_tokenizer, tiny_encoder_config)
    folder = tmp_path / "scanner-tiny"
    ScannerNERPipeline(model=model, tokenizer=tokenizer).save_pretrained(folder)
    return folder


def free_port() -> int:
    """A loopback port nothing listens on (for servers the tests start)."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
