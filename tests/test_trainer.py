"""ScannerTrainer used directly from Python on a user's CoNLL folder (the README example): both stages,
the composite checkpoint and card, per-stage sample caps, and resuming after a crash mid-save."""

import dataclasses
import logging

import pytest
from conftest import write_twitter_folder

import scanner_hf.trainer as trainer_module
from scanner_hf import (
    DistillationSettings,
    KnowledgeSettings,
    ScannerSpanDetector,
    ScannerTrainer,
    ScannerTrainingArguments,
    StageTraining,
)
from scanner_hf.data import load_ner_dataset

FAST = {"batch_size": 8, "learning_rate": 3e-3, "warmup_ratio": 0.0}


@pytest.fixture()
def my_conll_folder(tmp_path):
    source = write_twitter_folder(tmp_path / "data") / "twitter2017"
    mine = tmp_path / "my-tweets"
    mine.mkdir()
    for split, name in (("train", "train.txt"), ("valid", "dev.txt"), ("test", "test.txt")):
        (mine / name).write_text((source / f"{split}.txt").read_text())
    return mine


def test_train_on_a_users_folder_then_resume_after_a_crash(tmp_path, tiny_backbone_dir, my_conll_folder, monkeypatch, caplog):
    splits = load_ner_dataset(str(my_conll_folder))
    args = ScannerTrainingArguments(
        output_dir=str(tmp_path / "run"), backbone=str(tiny_backbone_dir), max_length=32, max_prompt_length=48,
        non_entity_folds=0, stage1=StageTraining(epochs=8, **FAST), stage2=StageTraining(epochs=2, **FAST, max_train_samples=10),
        knowledge=KnowledgeSettings(), word_shapes=True,  # stage 1: the composite and pipeline carry shape ids
    )
    seen_sizes = []
    real = trainer_module.train_entity_recognizer
    monkeypatch.setattr(trainer_module, "train_entity_recognizer", lambda split, *a, **k: seen_sizes.append(len(split)) or real(split, *a, **k))
    trainer = ScannerTrainer(args, splits["train"], splits["validation"], splits["test"], dataset_name="my-tweets")
    scores = trainer.train()
    run = tmp_path / "run"
    assert seen_sizes == [10]  # stage 2's cap acts on stage 2's training sentences; stage 1 saw all 24
    assert set(scores) == {"stage1", "scanner"} and scores["stage1"]["f1"] > 0.6
    assert (run / "scanner" / "model.safetensors").exists() and "my-tweets" in (run / "scanner" / "README.md").read_text()
    assert not list(run.glob(".*.partial"))  # steps were renamed into place
    # a crash between writing the config and the weights: that step is retrained, the others reloaded
    (run / "stage2" / "model.safetensors").unlink()
    caplog.set_level(logging.INFO, logger="scanner_hf.trainer")
    again = ScannerTrainer(args, splits["train"], splits["validation"], splits["test"]).train()
    assert "resuming: loading the stage-1 detector" in caplog.text
    assert "holds no complete model (an interrupted run?): retraining this step" in caplog.text
    assert (run / "stage2" / "model.safetensors").exists() and seen_sizes == [10, 10]
    assert again["scanner"]["f1"] == scores["scanner"]["f1"]  # same seed, same data: the same model again
    from transformers import pipeline

    ner = pipeline("scanner-ner", model=str(run / "scanner"))
    assert ner.model.span_detector.config.word_shapes and ner.screening is None
    assert isinstance(ner("Steve Kerr praises the Warriors"), list)


def test_bad_arguments_fail_before_training(tmp_path):
    with pytest.raises(ValueError, match="stages must be"):
        ScannerTrainingArguments(output_dir=str(tmp_path), stages="stage3")
    with pytest.raises(ValueError, match="word_shapes must be true or false.*removed"):
        ScannerTrainingArguments(output_dir=str(tmp_path), word_shapes=["stage1", "stage2"])
    with pytest.raises(ValueError, match="max_context_words"):
        ScannerTrainingArguments(output_dir=str(tmp_path), max_context_words=0)
    with pytest.raises(ValueError, match="stage1_screening takes no grounding"):
        ScannerTrainingArguments(output_dir=str(tmp_path), stage1_screening=True, grounding_weight=1.0)
    with pytest.raises(ValueError, match="caption file"):
        ScannerTrainingArguments(output_dir=str(tmp_path), knowledge=KnowledgeSettings(captions=str(tmp_path / "none.txt")))


def test_bf16_stage_setting_builds_cpu_training_arguments(tmp_path):
    from scanner_hf.training import training_arguments

    args = training_arguments(str(tmp_path), StageTraining(bf16=True), seed=0)
    assert args.bf16 and args.use_cpu
    assert not training_arguments(str(tmp_path), StageTraining(), seed=0).bf16


def test_stage1_screening_trains_a_typed_detector_and_screens_with_it(tmp_path, tiny_backbone_dir, my_conll_folder):
    splits = load_ner_dataset(str(my_conll_folder))
    args = ScannerTrainingArguments(
        output_dir=str(tmp_path / "run"), backbone=str(tiny_backbone_dir), max_length=32, max_prompt_length=48,
        non_entity_folds=0, stage1=StageTraining(epochs=12, **FAST), stage2=StageTraining(epochs=1, **FAST, max_train_samples=10),
        stage1_screening=True, distillation=DistillationSettings(mode="tyt", stages=["stage1"]),  # a typed teacher, then the student
    )
    trainer = ScannerTrainer(args, splits["train"], splits["validation"], splits["test"])
    scores = trainer.train()
    detector = trainer.detector
    assert detector.config.entity_types == list(trainer.entity_types)  # typed BIO head: O + B-/I- per type
    assert detector.config.num_labels == 1 + 2 * len(trainer.entity_types)
    teacher = ScannerSpanDetector.from_pretrained(tmp_path / "run" / "stage1-teacher")
    assert teacher.config.id2label == detector.config.id2label
    assert scores["stage1"]["f1"] > 0.6  # its spans, decoded from the summed B/I probabilities, are as good as untyped ones
    assert {"recogniser", "screener", "0.9"} <= set(scores["screening_dev"])
    assert scores["screening_dev"]["screener"]["f1"] > 0  # stage 1's own types find entities
    from transformers import pipeline

    ner = pipeline("scanner-ner", model=str(tmp_path / "run" / "scanner"))
    assert ner.model.config.stage1_screening and ner.screening is not None
    assert ner.model.config.screening_threshold == trainer.screening_threshold
    assert "is typed" in (tmp_path / "run" / "scanner" / "README.md").read_text()
    assert isinstance(ner("Steve Kerr praises the Warriors"), list)
    # as with the pipeline: the chosen threshold is the default, screen=False is stage 2 alone, threshold 0 stage 1's types
    assert trainer.evaluate(screening_threshold=trainer.screening_threshold) == trainer.evaluate()
    first_pass, alone = trainer.evaluate(screening_threshold=0.0), trainer.evaluate(screen=False)
    assert first_pass["f1"] > 0 and first_pass != alone
    unscreened = ScannerTrainer(dataclasses.replace(args, stage1_screening=False, distillation=DistillationSettings()), splits["train"])
    with pytest.raises(ValueError, match="a system that screens"):
        unscreened.evaluate(splits["test"], screening_threshold=0.5)
