"""The recipe under ``accelerate launch`` with two processes (DDP on CPU through gloo): training is
sharded across the processes and files, scores and the checkpoint are written once."""

import json
import os
import subprocess
import sys
from pathlib import Path

from conftest import REPO_ROOT, write_recipe, write_twitter_folder

from scanner_hf import ScannerForMultimodalNER


def test_accelerate_launch_two_processes_shards_training_and_writes_once(tmp_path, tiny_backbone_dir):
    data = write_twitter_folder(tmp_path / "data", sentences_per_split=12)
    settings = {"num_train_epochs": 2, "per_device_train_batch_size": 8, "learning_rate": 3e-3}
    config = write_recipe(
        tmp_path, dataset="twitter2017", data_dir=str(data), output_dir=str(tmp_path / "run"),
        backbone=str(tiny_backbone_dir), stage1_max_length=32, max_prompt_length=48, non_entity_folds=2,
        stage1=settings, stage2=settings,
    )
    # ACCELERATE_USE_CPU makes the Trainer set up DDP with the gloo backend, as on a CPU cluster
    env = {**os.environ, "ACCELERATE_USE_CPU": "1", "OMP_NUM_THREADS": "1"}
    completed = subprocess.run(
        [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
         "--mixed_precision", "no", "--dynamo_backend", "no", str(REPO_ROOT / "train_scripts" / "train.py"), "--config", str(config)],
        capture_output=True, text=True, env=env, timeout=600, check=False,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert "[rank1]" in completed.stderr  # really two processes
    assert completed.stdout.count("SCANNER (both stages) on twitter2017 test:") == 1  # printed by the main process only
    # 12 training sentences, batch 8 per process: 1 step per epoch on 2 processes (2 steps on one)
    states = [json.loads(p.read_text()) for p in (tmp_path / "run" / "checkpoints" / "stage1").glob("checkpoint-*/trainer_state.json")]
    assert {state["max_steps"] for state in states} == {2}  # the best epoch's checkpoint is kept, its plan says 2 steps
    scores = json.loads((tmp_path / "run" / "test_scores.json").read_text())
    assert f'"f1": {round(scores["f1"], 4)}' in completed.stdout  # the file holds what the main process printed
    assert isinstance(ScannerForMultimodalNER.from_pretrained(tmp_path / "run" / "scanner"), ScannerForMultimodalNER)


def test_predict_under_accelerate_launch_splits_inputs_and_keeps_their_order(tmp_path, tiny_tokenizer, tiny_encoder_config):
    from conftest import composite

    from scanner_hf import ScannerNERPipeline

    model, tokenizer = composite(tiny_tokenizer, tiny_encoder_config)
    folder = tmp_path / "checkpoint"
    ScannerNERPipeline(model=model, tokenizer=tokenizer).save_pretrained(folder)
    texts = ["steve kerr in paris", "nothing", "paris", "kerr and steve", "the game", "in paris today", "steve"]
    source = tmp_path / "texts.jsonl"
    source.write_text("\n".join(json.dumps({"id": i, "text": t}) for i, t in enumerate(texts)))
    env = {**os.environ, "ACCELERATE_USE_CPU": "1", "OMP_NUM_THREADS": "1"}
    completed = subprocess.run(
        [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
         "--mixed_precision", "no", "--dynamo_backend", "no", str(Path(sys.executable).parent / "scanner-ner"), "predict", "--input", str(source),
         "--model", str(folder), "--output", str(tmp_path / "out.jsonl"), "--batch-size", "2"],
        capture_output=True, text=True, env=env, timeout=600, check=False,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert "process 0/2 predicts 4 of 7 texts" in completed.stderr and "process 1/2 predicts 3 of 7 texts" in completed.stderr
    assert completed.stderr.count("one process with all threads is faster here") == 1  # a small input: said once
    rows = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert [row["id"] for row in rows] == list(range(len(texts)))  # all inputs, in input order
    assert not list(tmp_path.glob("out.jsonl.part*"))
    from transformers import pipeline

    assert [row["entities"] for row in rows] == pipeline("scanner-ner", model=str(folder))(texts)
