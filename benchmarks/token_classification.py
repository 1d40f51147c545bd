"""Train-and-score runs behind ``baseline_tokcls.py`` and ``stage1_spans.py``: one function, so the
baseline and SCANNER's stage 1 get exactly the same data, backbone, budget and scoring."""

from __future__ import annotations

import time
from dataclasses import dataclass

from transformers import (
    AutoModelForTokenClassification,
    AutoTokenizer,
    TrainingArguments,
    set_seed,
)

from scanner_hf import ScannerSpanDetector
from scanner_hf.backbones import resolve_backbone
from scanner_hf.data import entity_strings, load_benchmark
from scanner_hf.training.stages import (
    encode_token_classification,
    score_token_classifier,
    token_classification_trainer,
)


@dataclass
class Budget:
    backbone: str = "sentence-transformers/all-MiniLM-L6-v2"
    epochs: float = 3
    batch_size: int = 16
    learning_rate: float = 1e-4
    max_length: int = 128
    seed: int = 42


def train_and_score(dataset_name: str, target: str, budget: Budget, output_dir: str, save_dir: str | None = None) -> dict:
    """``target="typed"``: AutoModelForTokenClassification on typed BIO (the baseline);
    ``target="untyped"``: ScannerSpanDetector on O/B/I (stage 1). Returns test scores + timings;
    ``save_dir`` keeps the trained model and tokenizer."""
    set_seed(budget.seed)
    splits = load_benchmark(dataset_name)
    seen = entity_strings(splits["train"])
    source = resolve_backbone(budget.backbone)
    tokenizer = AutoTokenizer.from_pretrained(source)
    if target == "typed":
        names = splits["train"].features["ner_tags"].feature.names
        model = AutoModelForTokenClassification.from_pretrained(
            source, id2label=dict(enumerate(names)), label2id={n: i for i, n in enumerate(names)}
        )
    else:
        model = ScannerSpanDetector.from_encoder(source)
    encoded = {
        name: encode_token_classification(splits[name], tokenizer, target=target, max_length=budget.max_length)
        for name in ("train", "test")
    }
    args = TrainingArguments(
        output_dir=output_dir,
        num_train_epochs=budget.epochs,
        per_device_train_batch_size=budget.batch_size,
        per_device_eval_batch_size=64,
        learning_rate=budget.learning_rate,
        weight_decay=0.01,
        warmup_steps=0.1,
        save_strategy="no",
        logging_steps=100,
        seed=budget.seed,
        report_to=[],
        disable_tqdm=True,
    )
    trainer = token_classification_trainer(model, tokenizer, args, train_dataset=encoded["train"])
    start = time.perf_counter()
    trainer.train()
    train_seconds = time.perf_counter() - start
    if save_dir:
        trainer.save_model(save_dir)
        tokenizer.save_pretrained(save_dir)
    start = time.perf_counter()
    scores = score_token_classifier(trainer, encoded["test"], seen_entities=seen)
    scores["train_seconds"] = train_seconds
    scores["test_seconds"] = time.perf_counter() - start
    return scores


def run_from_command_line(description: str, target: str, format_row) -> tuple[Budget, list[str], dict]:
    """The shared command line of baseline_tokcls.py and stage1_spans.py: parse ``--datasets``,
    ``--epochs``, ``--seed``; train and score each dataset; return the budget, one table row per
    dataset (``format_row(name, scores)``, printed as it arrives) and the raw results."""
    import argparse
    import logging
    import tempfile

    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--datasets", nargs="+", default=["twitter2015", "twitter2017"])
    parser.add_argument("--epochs", type=float, default=3)
    parser.add_argument("--seed", type=int, default=42)
    arguments = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    budget = Budget(epochs=arguments.epochs, seed=arguments.seed)
    rows, raw = [], {"budget": vars(budget), "results": {}}
    for name in arguments.datasets:
        with tempfile.TemporaryDirectory() as output_dir:
            scores = train_and_score(name, target, budget, output_dir)
        raw["results"][name] = scores
        rows.append(format_row(name, scores))
        print(rows[-1], flush=True)
    return budget, rows, raw
