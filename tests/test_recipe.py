"""The training recipe: config validation at start-up and a tiny end-to-end stage-1 run."""

import json

import pytest
from conftest import REPO_ROOT, write_recipe, write_twitter_folder
from transformers import AutoModel

from scanner_hf import ScannerEntityRecognizer, ScannerSpanDetector
from scanner_hf.knowledge.kb_build import content_fingerprint
from scanner_hf.training.recipe import RecipeError, load_recipe, run_recipe


def test_unknown_keys_and_bad_values_fail_at_start_up(tmp_path):
    data = write_twitter_folder(tmp_path / "data")
    base = {"dataset": "twitter2017", "output_dir": str(tmp_path / "out"), "data_dir": str(data)}
    with pytest.raises(RecipeError, match=r"\['epochz'\] are not TrainingArguments fields"):
        load_recipe(write_recipe(tmp_path, **base, stage1={"epochz": 3}))
    with pytest.raises(RecipeError, match="epochs is now num_train_epochs"):  # 0.1's names say what they became
        load_recipe(write_recipe(tmp_path, **base, stage1={"epochs": 3}))
    with pytest.raises(RecipeError, match="max_length is now stage1_max_length"):
        load_recipe(write_recipe(tmp_path, **base, max_length=64))
    with pytest.raises(RecipeError, match="unknown keys"):
        load_recipe(write_recipe(tmp_path, **base, learning_rate=3))
    with pytest.raises(RecipeError, match=r"\['kb_features'\]: stage-1 knowledge was removed"):  # removed options say why
        load_recipe(write_recipe(tmp_path, **base, kb_features=True))
    with pytest.raises(RecipeError, match="expected a number"):
        load_recipe(write_recipe(tmp_path, **base, stage1={"learning_rate": "fast"}))
    with pytest.raises(RecipeError, match="'wnut' is not a benchmark"):
        load_recipe(write_recipe(tmp_path, **{**base, "dataset": "wnut"}))
    with pytest.raises(RecipeError, match=r"unknown dataset_options \['tag_column'\]"):
        load_recipe(write_recipe(tmp_path, **{**base, "dataset_options": {"tag_column": "x"}}))
    with pytest.raises(RecipeError, match="does not exist"):
        load_recipe(write_recipe(tmp_path, **{**base, "data_dir": str(tmp_path / "nowhere")}))
    recipe = load_recipe(write_recipe(tmp_path, **base, stage1={"learning_rate": "5e-5", "gradient_accumulation_steps": 4}))
    assert recipe.stage1["learning_rate"] == 5e-5
    stage1 = recipe.training_arguments().stage1  # real TrainingArguments: every Trainer option is there
    assert stage1.learning_rate == 5e-5 and stage1.gradient_accumulation_steps == 4 and stage1.num_train_epochs == 10
    assert load_recipe(write_recipe(tmp_path, **base, stage1={"num_train_epochs": 2, "learning_rate": 1e-3}),
                       {"stage1": {"num_train_epochs": 1}}).stage1 == {"num_train_epochs": 1, "learning_rate": 1e-3}  # --set merges


def test_tiny_two_stage_run_trains_saves_and_scores(tmp_path, tiny_backbone_dir, monkeypatch, caplog):
    monkeypatch.setenv("SCANNER_HF_CACHE", str(tmp_path / "cache"))
    data = write_twitter_folder(tmp_path / "data")
    kb_source = tmp_path / "kb.jsonl"
    kb_source.write_text(json.dumps({"title": "Paris", "description": "capital of France", "types": ["city"]}) + "\n")
    captions = tmp_path / "captions.txt"
    captions.write_text("\n".join(f"{split}_{i}.jpg :a man on a stage" for split in ("train", "test") for i in range(24)))
    settings = {"num_train_epochs": 8, "per_device_train_batch_size": 8, "learning_rate": 3e-3, "warmup_steps": 0.0}
    recipe = load_recipe(
        write_recipe(
            tmp_path,
            dataset="twitter2017",
            data_dir=str(data),
            output_dir=str(tmp_path / "run"),
            backbone=str(tiny_backbone_dir),
            stage1_max_length=32,
            max_prompt_length=48,
            non_entity_folds=2,
            stage1=settings,
            stage2=settings,
            knowledge={"captions": str(captions), "wikipedia": [f"jsonl:{kb_source}"]},
        )
    )
    scores = run_recipe(recipe)
    run = tmp_path / "run"
    assert json.loads((run / "stage1" / "test_scores.json").read_text())["f1"] == scores["stage1"]["f1"]
    # the toy data is learnable: spans are the only non-filler words
    assert scores["stage1"]["f1"] > 0.6, scores["stage1"]
    assert {"seen", "unseen", "span_f1", "per_type"} <= set(scores["scanner"])
    assert len(json.loads((run / "stage1_folds.json").read_text())) == 24
    assert isinstance(AutoModel.from_pretrained(run / "stage1"), ScannerSpanDetector)
    # each stage was scored on the validation split every epoch and its best epoch kept
    for stage in ("stage1", "stage2"):
        [state_file] = list((run / "checkpoints" / stage).glob("checkpoint-*/trainer_state.json"))
        state = json.loads(state_file.read_text())
        assert state["best_model_checkpoint"] and state["best_metric"] is not None
        evaluations = [entry for entry in state["log_history"] if "eval_f1" in entry]
        assert [entry["epoch"] for entry in evaluations] == list(range(1, len(evaluations) + 1))  # once per epoch
    assert isinstance(AutoModel.from_pretrained(run / "stage2"), ScannerEntityRecognizer)
    # the composite checkpoint: pipeline-loadable, with a model card holding the measured scores
    from transformers import pipeline

    ner = pipeline("scanner-ner", model=str(run / "scanner"))
    assert isinstance(ner("steve kerr in paris"), list)
    card = (run / "scanner" / "README.md").read_text()
    assert f"value: {round(scores['scanner']['f1'], 4)}" in card and "model-index" in card
    # a second run resumes from the saved steps and reproduces the scores
    assert run_recipe(recipe)["scanner"]["f1"] == scores["scanner"]["f1"]
    # `scanner-ner evaluate` on the checkpoint (its own KB, box threshold and stage-1 window) reproduces the run's scores
    from scanner_hf.cli import main as cli

    cli(["evaluate", "--model", str(run / "scanner"), "--dataset", "twitter2017", "--data-dir", str(data),
         "--captions", str(captions), "--output", str(tmp_path / "evaluated.json")])
    evaluated = json.loads((tmp_path / "evaluated.json").read_text())
    recorded = json.loads((run / "test_scores.json").read_text())
    assert (evaluated["f1"], evaluated["unseen"]) == (recorded["f1"], recorded["unseen"])
    # the checkpoint names the KB by its sources, a local file by name and content fingerprint (no path of this
    # machine): the KB built from the same contents is found, else the file of that name, else it says what is missing
    [spec] = ner.model.config.knowledge["wikipedia"]
    assert spec == f"jsonl:kb.jsonl#{content_fingerprint(kb_source)}" and str(tmp_path) not in (run / "scanner" / "config.json").read_text()
    assert "Paris (city): capital of France." == ner.providers[0].kb.lookup("paris")
    for kb_file in (tmp_path / "cache").glob("kb-*.sqlite"):
        kb_file.unlink()
    moved = tmp_path / "elsewhere"
    moved.mkdir()
    kb_source.rename(moved / "kb.jsonl")  # another machine: the same file in another folder
    monkeypatch.setenv("SCANNER_HF_KB_SOURCES", str(moved))
    assert pipeline("scanner-ner", model=str(run / "scanner")).providers[0].kb.lookup("PARIS").startswith("Paris (city)")
    for kb_file in (tmp_path / "cache").glob("kb-*.sqlite"):
        kb_file.unlink()
    (moved / "kb.jsonl").unlink()  # and a machine without it
    elsewhere = pipeline("scanner-ner", model=str(run / "scanner"))
    assert elsewhere.providers == [] and "'kb.jsonl'" in caplog.text and "is not on this machine" in caplog.text and "is skipped" in caplog.text
    assert isinstance(elsewhere("steve kerr in paris"), list)


def test_recipe_trains_on_a_users_own_conll_folder(tmp_path, tiny_backbone_dir):
    source = write_twitter_folder(tmp_path / "data") / "twitter2017"
    mine = tmp_path / "my-tweets"
    mine.mkdir()
    for split, name in (("train", "train.conll"), ("valid", "dev.conll"), ("test", "test.conll")):
        (mine / name).write_text((source / f"{split}.txt").read_text())  # IOB2 with IMGID lines, under other names
    recipe = load_recipe(
        write_recipe(
            tmp_path, dataset=str(mine), output_dir=str(tmp_path / "run"), backbone=str(tiny_backbone_dir),
            stage1_max_length=32, stages="stage1", dataset_options={"label_map": {"MISC": "OTHER"}},
            stage1={"num_train_epochs": 8, "per_device_train_batch_size": 8, "learning_rate": 3e-3, "warmup_steps": 0.0},
        )
    )
    scores = run_recipe(recipe)
    assert set(scores) == {"stage1"} and (tmp_path / "run" / "stage1" / "model.safetensors").exists()
    assert scores["stage1"]["f1"] > 0.6, scores["stage1"]  # the toy spans are learnable from the user's files
    with pytest.raises(RecipeError, match="llm: true"):
        load_recipe(write_recipe(tmp_path, dataset=str(mine), output_dir="x", knowledge={"llm": True}))


def test_stage1_only_recipe(tmp_path, tiny_backbone_dir):
    data = write_twitter_folder(tmp_path / "data")
    recipe = load_recipe(
        write_recipe(
            tmp_path, dataset="twitter2017", data_dir=str(data), output_dir=str(tmp_path / "run"),
            backbone=str(tiny_backbone_dir), stage1_max_length=32, stages="stage1", stage1={"num_train_epochs": 1},
        )
    )
    assert set(run_recipe(recipe)) == {"stage1"}
    assert not (tmp_path / "run" / "stage2").exists()


def test_trust_your_teacher_recipe_trains_teacher_then_student(tmp_path, tiny_backbone_dir):
    data = write_twitter_folder(tmp_path / "data", sentences_per_split=12)
    settings = {"num_train_epochs": 2, "per_device_train_batch_size": 8, "learning_rate": 3e-3}
    recipe = load_recipe(
        write_recipe(
            tmp_path, dataset="twitter2017", data_dir=str(data), output_dir=str(tmp_path / "run"),
            backbone=str(tiny_backbone_dir), stage1_max_length=32, max_prompt_length=48, non_entity_folds=0,
            stage1=settings, stage2=settings, distillation={"mode": "tyt", "stages": ["stage1", "stage2"]},
            awp={"start_epoch": 1.0},
        )
    )
    scores = run_recipe(recipe)
    run = tmp_path / "run"
    for folder in ("stage1-teacher", "stage1", "stage2-teacher", "stage2"):
        assert (run / folder / "model.safetensors").exists(), folder
    assert "scanner" in scores
    with pytest.raises(RecipeError, match="distillation.mode"):
        load_recipe(write_recipe(tmp_path, dataset="twitter2017", data_dir=str(data), output_dir="x", distillation={"mode": "soft"}))


@pytest.mark.parametrize("config", sorted((REPO_ROOT / "train_scripts" / "configs").glob("*.yaml")), ids=lambda p: p.stem)
def test_shipped_configs_are_valid(config, shared_data, monkeypatch):
    monkeypatch.chdir(REPO_ROOT)  # their data paths are relative to the repository root
    recipe = load_recipe(config)
    assert recipe.dataset in config.stem
