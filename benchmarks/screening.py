"""Screening on Twitter-2017: a packed short-head recogniser (the screener) types every candidate, the
per-candidate stage 2 only those it gives less than the screening threshold (``stage2_screener: true``).

On scanner_mner.py's cached stage 1, cross-fold spans and text-only stage 2 (seed 42), the screener is
trained as ``stage2_screener`` trains it (packed, ``<mask> {entity}``, half the stage-2 batch; the same
settings as stage2_layers.py's packed short-head model, whose folder it reuses when present). The
threshold is chosen on the validation split (the lowest whose F1 is within 0.1 of stage 2 alone) and
kept in results/screening.json, where pipeline_speed.py's ``scanner_screened`` rows read seed 42's. Test
F1 / unseen F1 of stage 2 alone, the screener alone and the screened system, and the share of candidates
stage 2 typed; other seeds retrain stage 2 and the screener (in ``seed-<n>/`` of the cache) on seed 42's
stage 1 and spans.

    python benchmarks/screening.py [--seeds 42 43 44]
"""

from __future__ import annotations

import argparse
import json
import logging

from common import BENCHMARK_DIR, commands_note, merged_commands, screening_tables, write_section
from scanner_mner import RESULTS_FILE, benchmark_recipe

from scanner_hf.data import load_benchmark
from scanner_hf.recipe import recipe_trainer
from scanner_hf.two_stage import SCREENING_TOLERANCE

NAME = "twitter2017"
RAW_FILE = BENCHMARK_DIR / "results" / "screening.json"
SCREENER_FOLDER = "stage2-text-packed-short"  # stage2_layers.py's packed short-head model: the screener's settings


def run_seed(settings: dict, seed: int) -> dict:
    """Stage 2 and the screener of one seed (seed 42's from the shared cache, others in ``seed-<n>/``, both
    on seed 42's stage 1 and spans as in headline_seeds.py), the threshold chosen on validation, test scores."""
    subfolder = "" if seed == settings["seed"] else f"seed-{seed}/"
    trainer = recipe_trainer(benchmark_recipe(NAME, settings, "text", seed=seed, stage2_screener=True))
    trainer.train_span_detector()
    trainer.train_entity_recognizer(trainer.output_dir / f"{subfolder}stage2-text")
    trainer.train_entity_recognizer(trainer.output_dir / f"{subfolder}{SCREENER_FOLDER}", screener=True)
    # the benchmark recipe picks no best epoch on dev (select_best_on_dev: false), so the trainer holds no
    # validation split: give it the split for the threshold alone (the models above are trained)
    trainer.eval_dataset = load_benchmark(NAME)["validation"]
    threshold = trainer.tune_screening_threshold()
    test = {  # threshold 0: the screener's answer for every candidate
        "screened": trainer.evaluate(), "recogniser": trainer.evaluate(screen=False), "screener": trainer.evaluate(screening_threshold=0.0),
    }
    return {
        "threshold": threshold, "dev": trainer.scores["screening_dev"],
        "test": {k: {"f1": v["f1"], "unseen_f1": v["unseen"]["f1"]} for k, v in test.items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seeds", nargs="+", type=int, default=[42], help="stage-2 and screener seeds (stage 1 stays seed 42's)")
    arguments = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    settings = json.loads(RESULTS_FILE.read_text())["settings"]
    previous = json.loads(RAW_FILE.read_text()) if RAW_FILE.exists() else {}
    seeds = previous.get("seeds", {})
    for seed in arguments.seeds:
        seeds[str(seed)] = run_seed(settings, seed)
    raw = {"seeds": seeds, "commands": merged_commands(previous)}
    write_section("screening", "Screening: a packed recogniser first, stage 2 for the unsure candidates", report(raw, settings), raw)


def report(raw: dict, settings: dict) -> str:
    """The RESULTS.md section's text from the recorded seeds."""
    seeds = raw["seeds"]
    ordered = sorted(seeds, key=int)
    dev_seed = str(settings["seed"]) if str(settings["seed"]) in seeds else ordered[0]
    labels = {"recogniser": "stage 2 alone (per candidate)", "screened": "screened", "screener": "screener alone (packed, short head)"}
    dev, chosen, test = screening_tables(seeds, labels, dev_seed)
    gaps = [seeds[s]["test"]["screened"]["f1"] - seeds[s]["test"]["recogniser"]["f1"] for s in ordered]
    return (
        "Twitter-2017 (MiniLM, scanner_mner.py's cached stage 1 and spans of seed 42; stage 2 and the screener per seed). The "
        "screener is a packed recogniser with the short head (`<mask> {entity}`), trained as `stage2_screener: true` trains it; "
        "stage 2 types again the candidates the screener gives less than the threshold. The threshold is the lowest within "
        f"{100 * SCREENING_TOLERANCE:g} F1 of stage 2 alone on the validation split. Speed: pipeline-speed section, rows "
        "`scanner_screened-*` (seed 42's models). " + commands_note(raw["commands"]) + "\n\n"
        f"Validation split, seed {dev_seed}, per threshold (recogniser: stage 2 alone; screener: the screener alone):\n\n"
        + dev + "\n\n" + chosen + ".\n\nTest split, F1 (unseen F1):\n\n" + test
        + "\n\nScreened minus stage 2 alone, test F1: " + ", ".join(f"{100 * g:+.2f}" for g in gaps) + "."
    )


if __name__ == "__main__":
    main()
