"""GMNER end to end on the synthetic set: real readers, recipe, grounding metrics and pipeline boxes."""

import json

import pytest
from conftest import write_recipe
from transformers import pipeline

from scanner_hf.data import load_benchmark
from scanner_hf.data.synthetic import make_synthetic_gmner
from scanner_hf.knowledge import PrecomputedObjects
from scanner_hf.knowledge.vision import ObjectFormatError, read_objects_json
from scanner_hf.training.recipe import load_recipe, run_recipe


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    return make_synthetic_gmner(tmp_path_factory.mktemp("syn"), {"train": 40, "dev": 8, "test": 12}, seed=1)


def test_synthetic_set_reads_like_twitter_gmner(synthetic):
    splits, reports = load_benchmark("twitter_gmner", synthetic, return_reports=True)
    assert [len(splits[s]) for s in ("train", "validation", "test")] == [40, 8, 12]
    assert reports["train"].unmatched_box_names == []
    first = splits["train"][0]
    grounded = [e for e in first["entities"] if e["boxes"]]
    assert grounded and any(not e["boxes"] for e in first["entities"])  # groundable and ungroundable
    regions = PrecomputedObjects(synthetic / "objects").objects_for(first["image_id"])
    assert any(list(r.box) == grounded[0]["boxes"][0] for r in regions)  # the true region is a candidate
    assert len(regions) > len(grounded)  # with distractors


def test_object_files_are_checked(tmp_path):
    bad = tmp_path / "x.json"
    bad.write_text(json.dumps([{"label": "cat"}]))
    with pytest.raises(ObjectFormatError, match="4-number 'box'"):
        read_objects_json(bad)
    provider = PrecomputedObjects(tmp_path)
    assert provider.objects_for("missing") == [] and "missing" in provider.missing


def test_grounded_recipe_reports_gmner_and_pipeline_returns_boxes(synthetic, tmp_path, tiny_backbone_dir):
    settings = {"num_train_epochs": 3, "per_device_train_batch_size": 8, "learning_rate": 3e-3}
    recipe = load_recipe(
        write_recipe(
            tmp_path, dataset="twitter_gmner", data_dir=str(synthetic), output_dir=str(tmp_path / "run"),
            backbone=str(tiny_backbone_dir), stage1_max_length=32, max_prompt_length=96, non_entity_folds=0,
            grounding_weight=1.0, max_objects=18, stage1=settings, stage2=settings,
            knowledge={"objects": str(synthetic / "objects")},
        )
    )
    scores = run_recipe(recipe)["scanner"]
    for mode in ("gmner_candidate", "gmner_box"):
        assert {"precision", "recall", "f1", "mner", "eeg", "coverage"} <= set(scores[mode])
        assert scores[mode]["coverage"] == 1.0  # the synthetic regions always include the true shapes
    counts = scores["gmner_candidate"]["counts"]
    assert counts["mner"] > 0 and scores["grounding_accuracy"] == counts["gmner"] / counts["mner"]
    assert 0.0 < scores["box_threshold"] <= 0.5  # chosen on the validation split
    config = json.loads((tmp_path / "run" / "scanner" / "config.json").read_text())
    assert config["box_threshold"] == scores["box_threshold"]
    ner = pipeline("scanner-ner", model=str(tmp_path / "run" / "scanner"))
    test = load_benchmark("twitter_gmner", synthetic)["test"][0]
    objects = [{"label": o.label, "box": list(o.box)} for o in PrecomputedObjects(synthetic / "objects").objects_for(test["image_id"])]
    result = ner({"text": " ".join(test["tokens"]), "objects": objects})
    assert all("box" in entity and "box_score" in entity for entity in result)
