"""CoNLL-2003, the paper's text-NER setting, on 2 CPU cores: SCANNER against the token-classification
baseline on the same backbone and epochs, and stage 1 with word shapes (where casing matters most).

- ``scanner``: the preset ``train_scripts/configs/conll2003-cpu.yaml`` run as a user runs it
  (``load_recipe`` -> ``recipe_trainer`` -> ``train()``: stage-1 TYT, cross-fold non-entities,
  text-only stage 2, test scores, checkpoint + card), in benchmarks/cache/conll2003;
- ``baseline``: AutoModelForTokenClassification (typed BIO) with the preset's backbone, epochs,
  batch, learning rate and window;
- ``shapes``: the same preset with ``word_shapes: true`` (TYT teacher and student),
  scored alone and with the ``scanner`` run's stage 2.

    python benchmarks/conll2003.py [--parts scanner baseline shapes]   (--parts alone: rewrite the section)
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import tempfile
import time
from pathlib import Path

from common import BENCHMARK_DIR, commands_note, merged_commands, percent, write_section
from token_classification import Budget, train_and_score

from scanner_hf.evaluation.two_stage import evaluate_detector, evaluate_two_stage
from scanner_hf.training.recipe import load_recipe, recipe_trainer

PRESET = Path(__file__).resolve().parents[1] / "train_scripts" / "configs" / "conll2003-cpu.yaml"
RAW_FILE = BENCHMARK_DIR / "results" / "conll2003.json"
TYPES = ("PER", "LOC", "ORG", "MISC")


def preset(**overrides):
    return load_recipe(PRESET, {"output_dir": str(BENCHMARK_DIR / "cache" / "conll2003"), **overrides})


def scanner() -> dict:
    trainer = recipe_trainer(preset())
    start = time.perf_counter()
    scores = trainer.train()
    return {"stage1": scores["stage1"], "scanner": scores["scanner"], "seconds": time.perf_counter() - start}


def baseline() -> dict:
    recipe = preset()
    budget = Budget(
        backbone=recipe.backbone, epochs=recipe.stage1["num_train_epochs"], batch_size=recipe.stage1["per_device_train_batch_size"],
        learning_rate=recipe.stage1["learning_rate"], max_length=recipe.stage1_max_length, seed=recipe.seed,
    )
    with tempfile.TemporaryDirectory() as output_dir:
        return train_and_score("conll2003", "typed", budget, output_dir)


def shapes() -> dict:
    uncased = recipe_trainer(preset())
    stage2 = uncased.train_entity_recognizer()  # the scanner part's stage 2 (cached)
    shaped = recipe_trainer(dataclasses.replace(preset(), word_shapes=True, output_dir=str(BENCHMARK_DIR / "cache" / "conll2003-shapes")))
    start = time.perf_counter()
    detector, tokenizer = shaped.train_span_detector()
    seconds = time.perf_counter() - start
    model, _, builder = stage2
    return {
        "stage1": evaluate_detector(detector, tokenizer, shaped.test_dataset, train_split=shaped.train_dataset),
        "scanner": evaluate_two_stage(
            detector, tokenizer, model, builder, shaped.test_dataset, train_split=shaped.train_dataset, max_length=shaped.processor.stage1_max_length
        ),
        "stage1_seconds": seconds,
    }


PARTS = {"scanner": scanner, "baseline": baseline, "shapes": shapes}


def typed_row(label: str, scores: dict, seconds: float | None) -> str:
    per_type = " | ".join(percent(scores["per_type"].get(t, {"f1": 0})["f1"]) for t in TYPES)
    return (
        f"| {label} | {percent(scores['precision'])} | {percent(scores['recall'])} | {percent(scores['f1'])} | {per_type} | "
        f"{percent(scores['seen']['f1'])} | {percent(scores['unseen']['f1'])} | {'-' if seconds is None else f'{seconds:.0f}'} |"
    )


def write(raw: dict) -> None:
    results = raw["results"]
    rows = []
    if "baseline" in results:
        rows.append(typed_row("token classification baseline", results["baseline"], results["baseline"]["train_seconds"]))
    if "scanner" in results:
        rows.append(typed_row("SCANNER (stage-1 TYT, text-only stage 2)", results["scanner"]["scanner"], results["scanner"]["seconds"]))
    if "shapes" in results:
        rows.append(typed_row("SCANNER, word-shape stage 1 + the same stage 2", results["shapes"]["scanner"], None))
    spans = []
    for label, key in (("uncased", "scanner"), ("+ word shapes", "shapes")):
        if key in results:
            s = results[key]["stage1"]
            spans.append(f"| {label} | {percent(s['precision'])} | {percent(s['recall'])} | {percent(s['f1'])} |")
    recipe = preset()
    body = (
        f"Preset `train_scripts/configs/conll2003-cpu.yaml`: backbone `{recipe.backbone}`, {recipe.stage1['num_train_epochs']:g} epoch per "
        f"stage (the Twitter budget is 3: CoNLL's train split is 4x Twitter-2017's, so this is the shorter budget), batch "
        f"{recipe.stage1['per_device_train_batch_size']}, lr {recipe.stage1['learning_rate']:g}, seed {recipe.seed}, stage-1 window {recipe.stage1_max_length}, "
        f"TYT in stage 1, {recipe.non_entity_folds} cross-fold detectors of {recipe.fold_epochs:g} epoch, text-only stage 2 "
        f"(prompts <= {recipe.max_prompt_length} tokens). The baseline has the same backbone, epochs, batch, lr and window. "
        "Test split (IOB1 read as IOB2), seqeval strict IOB2; seen = entity string occurs as an entity in train. Train seconds: "
        "the whole recipe for SCANNER (stage-1 teacher + student, folds, stage 2, scoring, checkpoint), training only for the "
        "baseline (whose Trainer batches are not grouped by length, unlike the recipe's: compare accuracy, not these times). "
        + ("The word-shape row swaps in a stage 1 (TYT) trained with `word_shapes: true`; stage 2 is unchanged. " if "shapes" in results else
           "The word-shape part (`--parts shapes`) has not run yet. ")
        + commands_note(raw["commands"])
        + "\n| system | P | R | F1 | PER | LOC | ORG | MISC | seen F1 | unseen F1 | train s |\n"
        "|---|---|---|---|---|---|---|---|---|---|---|\n" + "\n".join(rows)
        + "\n\nStage 1 alone (untyped span P / R / F1):\n\n| stage 1 | P | R | F1 |\n|---|---|---|---|\n" + "\n".join(spans)
    )
    write_section("conll2003", "CoNLL-2003: SCANNER against token classification (text NER)", body, raw)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--parts", nargs="*", default=list(PARTS), choices=list(PARTS))
    arguments = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    raw = json.loads(RAW_FILE.read_text()) if RAW_FILE.exists() else {}
    raw = {"results": raw.get("results", {}), "commands": merged_commands(raw)}
    for part in arguments.parts:
        raw["results"][part] = PARTS[part]()
        print(part, json.dumps({k: v for k, v in raw["results"][part].items() if "seconds" in k}), flush=True)
        write(raw)
    write(raw)


if __name__ == "__main__":
    main()
