"""Shared fixtures: a tiny BERT encoder and tokenizer built locally (no downloads), and the path to
the real benchmarks in ../shared/data when it exists."""

from __future__ import annotations

import string
from pathlib import Path

import pytest
from transformers import BertConfig, BertModel, BertTokenizer

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


@pytest.fixture(scope="session")
def tiny_backbone_dir(tmp_path_factory, tiny_tokenizer, tiny_encoder_config) -> Path:
    """A saved tiny encoder + tokenizer folder, loadable like a Hub backbone."""
    folder = tmp_path_factory.mktemp("tiny_backbone")
    BertModel(tiny_encoder_config).save_pretrained(folder)
    tiny_tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"the real benchmarks are not at {SHARED_DATA} (they live beside the repo in shared/data)")
    return SHARED_DATA
