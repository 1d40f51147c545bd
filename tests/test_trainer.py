"""ScannerTrainer used directly from Python on a user's CoNLL folder (the README example): the model built
with from_encoder, real TrainingArguments per stage (callbacks, gradient accumulation), both stages, the
composite checkpoint and card, per-stage sample caps, and resuming after a crash mid-save."""

import logging
from pathlib import Path

import huggingface_hub
import pytest
from conftest import write_twitter_folder
from transformers import TrainerCallback, pipeline, set_seed

import scanner_hf.training.trainer as trainer_module
from scanner_hf import (
    DistillationSettings,
    KnowledgeSettings,
    ScannerForMultimodalNER,
    ScannerSpanDetector,
    ScannerTrainer,
    ScannerTrainingArguments,
    stage_training_arguments,
)
from scanner_hf.data import entity_types_of, load_ner_dataset

FAST = {"per_device_train_batch_size": 8, "learning_rate": 3e-3, "warmup_steps": 0.0, "seed": 42}


@pytest.fixture()
def my_conll_folder(tmp_path):
    source = write_twitter_folder(tmp_path / "data") / "twitter2017"
    mine = tmp_path / "my-tweets"
    mine.mkdir()
    for split, name in (("train", "train.txt"), ("valid", "dev.txt"), ("test", "test.txt")):
        (mine / name).write_text((source / f"{split}.txt").read_text())
    return mine


def tiny_model(backbone, splits, **settings) -> ScannerForMultimodalNER:
    set_seed(0)  # the new heads' initial weights
    return ScannerForMultimodalNER.from_encoder(str(backbone), entity_types=entity_types_of(splits["train"]),
                                                stage1_max_length=32, max_prompt_length=48, **settings)


def stage_args(tmp_path, stage, **values):
    return stage_training_arguments(str(tmp_path / "checkpoints" / stage), **{**FAST, **values})


class CountingCallback(TrainerCallback):
    def __init__(self):
        self.trainings = []

    def on_train_end(self, args, state, control, **kwargs):
        self.trainings.append((args.gradient_accumulation_steps, state.global_step))


def test_train_on_a_users_folder_then_resume_after_a_crash(tmp_path, tiny_backbone_dir, my_conll_folder, monkeypatch, caplog):
    splits = load_ner_dataset(str(my_conll_folder))
    args = ScannerTrainingArguments(
        output_dir=str(tmp_path / "run"), non_entity_folds=0, knowledge=KnowledgeSettings(),
        stage1=stage_args(tmp_path, "stage1", num_train_epochs=8),
        # any Trainer option: here gradient accumulation; stage 2's cap acts on stage 2's training sentences only
        stage2=stage_args(tmp_path, "stage2", num_train_epochs=2, max_train_samples=10, gradient_accumulation_steps=2),
    )
    seen_sizes = []
    real = trainer_module.fit_entity_recognizer
    monkeypatch.setattr(trainer_module, "fit_entity_recognizer",
                        lambda model, tokenizer, split, *a, **k: seen_sizes.append(len(split)) or real(model, tokenizer, split, *a, **k))
    callback = CountingCallback()
    model = tiny_model(tiny_backbone_dir, splits, word_shapes=True)  # stage 1: the composite and pipeline carry shape ids
    trainer = ScannerTrainer(model=model, args=args, train_dataset=splits["train"], eval_dataset=splits["validation"],
                             test_dataset=splits["test"], callbacks=[callback], dataset_name=str(my_conll_folder))
    scores = trainer.train()
    run = tmp_path / "run"
    assert seen_sizes == [10]  # stage 1 saw all 24 sentences
    # each stage's own Trainer ran with its own arguments and the callback: 8 epochs x 24 sentences / 8 a batch for
    # stage 1; stage 2 accumulates 2 batches of candidates a step
    assert callback.trainings[0] == (1, 8 * 3) and callback.trainings[1][0] == 2 and len(callback.trainings) == 2
    # the default tunes stage 1's candidate threshold on the validation split and reports each tried value's dev F1
    assert set(scores) == {"stage1", "scanner", "candidate_threshold_dev_f1"} and scores["stage1"]["f1"] > 0.6
    assert len(scores["candidate_threshold_dev_f1"]) > 1
    card = (run / "scanner" / "README.md").read_text()
    assert (run / "scanner" / "model.safetensors").exists() and "my-tweets" in card
    assert str(tmp_path) not in card and str(tmp_path) not in (run / "scanner" / "config.json").read_text()  # no machine paths
    assert not list(run.glob(".*.partial"))  # steps were renamed into place
    assert model.span_detector is trainer.detector and model.entity_recognizer is trainer.recognizer  # trained in place
    # a crash between writing the config and the weights: that step is retrained, the others reloaded
    (run / "stage2" / "model.safetensors").unlink()
    caplog.set_level(logging.INFO, logger="scanner_hf.training.trainer")
    again = ScannerTrainer(tiny_model(tiny_backbone_dir, splits, word_shapes=True), args, splits["train"], splits["validation"], splits["test"]).train()
    assert "resuming: loading the stage-1 detector" in caplog.text
    assert "holds no complete model (an interrupted run?): retraining this step" in caplog.text
    assert (run / "stage2" / "model.safetensors").exists() and seen_sizes == [10, 10]
    assert again["scanner"]["f1"] == scores["scanner"]["f1"]  # same seed, same data: the same model again
    ner = pipeline("scanner-ner", model=str(run / "scanner"))
    assert ner.model.span_detector.config.word_shapes and ner.screening is None
    assert isinstance(ner("Steve Kerr praises the Warriors"), list)
    # the trained model itself: save_pretrained / from_pretrained / predict, the same answers as the pipeline
    model.save_pretrained(tmp_path / "mine")
    reloaded = ScannerForMultimodalNER.from_pretrained(tmp_path / "mine")
    text = "Steve Kerr praises the Warriors in Oakland"
    assert reloaded.predict(text) == model.predict(text) == ner(text)
    # push_to_hub uploads the saved checkpoint folder, card included, in one commit (the Hub client faked: no network here)
    uploads = []

    class FakeHubApi:
        def create_repo(self, repo_id, exist_ok=False):
            uploads.append(("create", repo_id, exist_ok))

        def upload_folder(self, repo_id, folder_path, commit_message):
            uploads.append(("upload", repo_id, sorted(path.name for path in Path(folder_path).iterdir())))

    monkeypatch.setattr(huggingface_hub, "HfApi", FakeHubApi)
    trainer.push_to_hub("my-org/scanner-my-tweets")
    assert uploads[0] == ("create", "my-org/scanner-my-tweets", True) and uploads[1][1] == "my-org/scanner-my-tweets"
    assert {"config.json", "model.safetensors", "README.md", "tokenizer.json"} <= set(uploads[1][2])


class EpochsCallback(TrainerCallback):
    def __init__(self):
        self.epochs = []

    def on_train_end(self, args, state, control, **kwargs):
        self.epochs.append(args.num_train_epochs)


def test_cross_fold_detectors_train_fold_epochs_and_the_test_split_is_capped(tmp_path, tiny_backbone_dir, my_conll_folder):
    splits = load_ner_dataset(str(my_conll_folder))
    args = ScannerTrainingArguments(
        output_dir=str(tmp_path / "run"), non_entity_folds=2, fold_epochs=1, max_test_samples=5, knowledge=KnowledgeSettings(),
        stage1=stage_args(tmp_path, "stage1", num_train_epochs=3), stage2=stage_args(tmp_path, "stage2", num_train_epochs=1),
    )
    callback = EpochsCallback()
    trainer = ScannerTrainer(tiny_model(tiny_backbone_dir, splits), args, splits["train"], splits["validation"], splits["test"],
                             callbacks=[callback])
    assert len(trainer.test_dataset) == 5 < len(splits["test"])
    spans = trainer.non_entity_spans()
    assert callback.epochs == [1, 1] and len(spans) == len(splits["train"])  # two fold detectors of one epoch each, not stage 1's 3


def test_bad_arguments_fail_before_training(tmp_path, tiny_backbone_dir, my_conll_folder):
    with pytest.raises(ValueError, match="stages must be"):
        ScannerTrainingArguments(output_dir=str(tmp_path), stages="stage3")
    with pytest.raises(TypeError, match="TrainingArguments"):
        ScannerTrainingArguments(output_dir=str(tmp_path), stage1=3)
    with pytest.raises(ValueError, match="caption file"):
        ScannerTrainingArguments(output_dir=str(tmp_path), knowledge=KnowledgeSettings(captions=str(tmp_path / "none.txt")))
    assert ScannerTrainingArguments(output_dir=str(tmp_path), stage2={"num_train_epochs": 2}).stage2.num_train_epochs == 2
    splits = load_ner_dataset(str(my_conll_folder))
    args = ScannerTrainingArguments(output_dir=str(tmp_path))
    too_few = ScannerForMultimodalNER.from_encoder(str(tiny_backbone_dir), entity_types=["PER"])
    with pytest.raises(ValueError, match="entity types .* that the model does not know"):
        ScannerTrainer(too_few, args, splits["train"])
    too_few.tokenizer = None
    with pytest.raises(ValueError, match="no tokenizer"):
        ScannerTrainer(too_few, args, splits["train"])
    with pytest.raises(TypeError, match="ScannerTrainingArguments"):
        ScannerTrainer(tiny_model(tiny_backbone_dir, splits), stage_args(tmp_path, "stage1"), splits["train"])


def test_bf16_stage_setting_builds_cpu_training_arguments(tmp_path):
    args = stage_training_arguments(str(tmp_path), bf16=True)
    assert args.bf16 and args.use_cpu
    assert not stage_training_arguments(str(tmp_path)).bf16


def test_stage1_screening_trains_a_typed_detector_and_screens_with_it(tmp_path, tiny_backbone_dir, my_conll_folder):
    splits = load_ner_dataset(str(my_conll_folder))
    args = ScannerTrainingArguments(
        output_dir=str(tmp_path / "run"), non_entity_folds=0,
        stage1=stage_args(tmp_path, "stage1", num_train_epochs=12), stage2=stage_args(tmp_path, "stage2", num_train_epochs=1, max_train_samples=10),
        distillation=DistillationSettings(mode="tyt", stages=["stage1"]),  # a typed teacher, then the student
    )
    model = tiny_model(tiny_backbone_dir, splits, stage1_screening=True)
    trainer = ScannerTrainer(model, args, splits["train"], splits["validation"], splits["test"])
    scores = trainer.train()
    detector = trainer.detector
    assert detector.config.entity_types == list(trainer.entity_types)  # typed BIO head: O + B-/I- per type
    assert detector.config.num_labels == 1 + 2 * len(trainer.entity_types)
    teacher = ScannerSpanDetector.from_pretrained(tmp_path / "run" / "stage1-teacher")
    assert teacher.config.id2label == detector.config.id2label
    assert scores["stage1"]["f1"] > 0.6  # its spans, decoded from the summed B/I probabilities, are as good as untyped ones
    assert {"recogniser", "screener", "0.9"} <= set(scores["screening_dev"])
    assert scores["screening_dev"]["screener"]["f1"] > 0  # stage 1's own types find entities
    assert model.config.screening_threshold == trainer.screening_threshold  # the tuned value is in the model's config
    ner = pipeline("scanner-ner", model=str(tmp_path / "run" / "scanner"))
    assert ner.model.config.stage1_screening and ner.screening is not None
    assert ner.model.config.screening_threshold == trainer.screening_threshold
    assert "is typed" in (tmp_path / "run" / "scanner" / "README.md").read_text()
    assert isinstance(ner("Steve Kerr praises the Warriors"), list)
    # as with the pipeline: the chosen threshold is the default, screen=False is stage 2 alone, threshold 0 stage 1's types
    assert trainer.evaluate(screening_threshold=trainer.screening_threshold) == trainer.evaluate()
    first_pass, alone = trainer.evaluate(screening_threshold=0.0), trainer.evaluate(screen=False)
    assert first_pass["f1"] > 0 and first_pass != alone
    unscreened = ScannerTrainer(tiny_model(tiny_backbone_dir, splits), ScannerTrainingArguments(output_dir=str(tmp_path / "other")), splits["train"])
    with pytest.raises(ValueError, match="a system that screens"):
        unscreened.evaluate(splits["test"], screening_threshold=0.5)
