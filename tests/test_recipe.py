"""The training recipe: config validation at start-up and a tiny end-to-end stage-1 run."""

import json
import random

import pytest
import yaml
from transformers import AutoModel

from scanner_hf import ScannerSpanDetector
from scanner_hf.recipe import RecipeError, load_recipe, train_stage1

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


def test_unknown_keys_and_bad_values_fail_at_start_up(tmp_path):
    data = write_twitter_folder(tmp_path / "data")
    base = {"dataset": "twitter2017", "output_dir": str(tmp_path / "out"), "data_dir": str(data)}
    with pytest.raises(RecipeError, match=r"unknown keys \['epochz'\]"):
        load_recipe(write_recipe(tmp_path, **base, stage1={"epochz": 3}))
    with pytest.raises(RecipeError, match="unknown keys"):
        load_recipe(write_recipe(tmp_path, **base, learning_rate=3))
    with pytest.raises(RecipeError, match="expected a number"):
        load_recipe(write_recipe(tmp_path, **base, stage1={"learning_rate": "fast"}))
    with pytest.raises(RecipeError, match="unknown dataset"):
        load_recipe(write_recipe(tmp_path, **{**base, "dataset": "wnut"}))
    with pytest.raises(RecipeError, match="does not exist"):
        load_recipe(write_recipe(tmp_path, **{**base, "data_dir": str(tmp_path / "nowhere")}))
    recipe = load_recipe(write_recipe(tmp_path, **base, stage1={"learning_rate": "5e-5"}))
    assert recipe.stage1.learning_rate == 5e-5


def test_tiny_stage1_run_trains_saves_and_scores(tmp_path, tiny_backbone_dir):
    data = write_twitter_folder(tmp_path / "data")
    recipe = load_recipe(
        write_recipe(
            tmp_path,
            dataset="twitter2017",
            data_dir=str(data),
            output_dir=str(tmp_path / "run"),
            backbone=str(tiny_backbone_dir),
            max_length=32,
            stage1={"epochs": 8, "batch_size": 8, "learning_rate": 3e-3, "warmup_ratio": 0.0},
        )
    )
    scores = train_stage1(recipe)
    saved = tmp_path / "run" / "stage1"
    assert json.loads((saved / "test_scores.json").read_text())["f1"] == scores["f1"]
    # the toy data is learnable: spans are the only non-filler words
    assert scores["f1"] > 0.6, scores
    assert {"seen", "unseen", "span_f1"} <= set(scores)
    model = AutoModel.from_pretrained(saved)
    assert isinstance(model, ScannerSpanDetector)
