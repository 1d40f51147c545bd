"""Screening on Twitter-2017: a packed short-head recogniser (the screener) types every candidate, the
per-candidate stage 2 only those it gives less than the screening threshold (``stage2_screener: true``).

On scanner_mner.py's cached stage 1, cross-fold spans and text-only stage 2 (seed 42), the screener is
trained as ``stage2_screener`` trains it (packed, ``<mask> {entity}``, half the stage-2 batch; the same
settings as stage2_layers.py's packed short-head model, whose folder it reuses when present). The
threshold is chosen on the validation split (the lowest whose F1 is within 0.1 of stage 2 alone) and
kept in results/screening.json, where pipeline_speed.py's ``scanner_screened`` rows read it. Test F1 /
unseen F1 of stage 2 alone, the screener alone and the screened system, and the share of candidates
stage 2 typed.

    python benchmarks/screening.py
"""

from __future__ import annotations

import json
import logging

from common import BENCHMARK_DIR, commands_note, merged_commands, percent, write_section
from scanner_mner import RESULTS_FILE, benchmark_recipe

from scanner_hf.data import load_benchmark
from scanner_hf.recipe import recipe_trainer
from scanner_hf.two_stage import SCREENING_TOLERANCE

NAME = "twitter2017"
RAW_FILE = BENCHMARK_DIR / "results" / "screening.json"
SCREENER_FOLDER = "stage2-text-packed-short"  # stage2_layers.py's packed short-head model: the screener's settings


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    settings = json.loads(RESULTS_FILE.read_text())["settings"]
    previous = json.loads(RAW_FILE.read_text()) if RAW_FILE.exists() else {}
    trainer = recipe_trainer(benchmark_recipe(NAME, settings, "text", stage2_screener=True))
    trainer.train_span_detector()
    trainer.train_entity_recognizer(trainer.output_dir / "stage2-text")
    trainer.train_entity_recognizer(trainer.output_dir / SCREENER_FOLDER, screener=True)
    # the benchmark recipe picks no best epoch on dev (select_best_on_dev: false), so the trainer holds no
    # validation split: give it the split for the threshold alone (the models above are trained)
    trainer.eval_dataset = load_benchmark(NAME)["validation"]
    threshold = trainer.tune_screening_threshold()
    dev = trainer.scores["screening_dev"]
    test = {"screened": trainer.evaluate()}
    recognizer, builder, screener = trainer.recognizer, trainer.builder, trainer.screener
    trainer.screener = None
    test["recogniser"] = trainer.evaluate()
    trainer.recognizer, trainer.builder = screener, trainer.screener_builder  # the screener as the only stage 2
    test["screener"] = trainer.evaluate()
    trainer.recognizer, trainer.builder, trainer.screener = recognizer, builder, screener
    raw = {
        "threshold": threshold, "dev": dev,
        "test": {k: {"f1": v["f1"], "unseen_f1": v["unseen"]["f1"]} for k, v in test.items()},
        "commands": merged_commands(previous),
    }
    rows = [f"| {key} | {percent(value['f1'])} | {percent(value['typed_again'])} |" for key, value in dev.items()]
    labels = {"recogniser": "stage 2 alone (per candidate)", "screener": "screener alone (packed, short head)",
              "screened": f"screened (threshold {threshold:g})"}
    test_rows = [f"| {labels[k]} | {percent(v['f1'])} | {percent(v['unseen_f1'])} |" for k, v in raw["test"].items()]
    body = (
        "Twitter-2017 (MiniLM, seed 42, scanner_mner.py's cached stage 1, spans and text-only stage 2). The screener is a packed "
        "recogniser with the short head (`<mask> {entity}`), trained as `stage2_screener: true` trains it; stage 2 types again the "
        f"candidates the screener gives less than the threshold. The threshold is the lowest within {100 * SCREENING_TOLERANCE:g} F1 "
        "of stage 2 alone on the validation split. Speed: pipeline-speed section, rows `scanner_screened-*`. "
        + commands_note(raw["commands"]) + "\n\n"
        "Validation split, per threshold (recogniser: stage 2 alone; screener: the screener alone):\n\n"
        "| threshold | F1 | candidates typed by stage 2 (%) |\n|---|---|---|\n" + "\n".join(rows) + "\n\n"
        "Test split:\n\n| system | F1 | unseen F1 |\n|---|---|---|\n" + "\n".join(test_rows)
    )
    write_section("screening", "Screening: a packed recogniser first, stage 2 for the unsure candidates", body, raw)


if __name__ == "__main__":
    main()
