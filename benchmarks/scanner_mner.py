"""SCANNER on MNER (Twitter-2017, Twitter-2015) on the MiniLM backbone, CPU budget.

Rows: (a) the token-classification baseline (read from results/baseline_tokcls.json, same backbone
and budget), (b) SCANNER text-only, (c) SCANNER + BLIP-2 captions (PGIM's precomputed captions).
Stage 1 and the cross-fold non-entity spans are trained once per dataset and shared by (b) and (c);
every step is cached under benchmarks/cache/ so an interrupted run resumes.

    python benchmarks/scanner_mner.py [--datasets twitter2017 twitter2015] [--variants text caption]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import time

from common import BENCHMARK_DIR, percent, write_section

from scanner_hf.data import default_data_dir, load_benchmark
from scanner_hf.recipe import (
    KnowledgeSettings,
    Recipe,
    StageTraining,
    knowledge_providers,
    non_entity_step,
    stage1_step,
    stage2_step,
)
from scanner_hf.two_stage import evaluate_detector, evaluate_two_stage

CAPTIONS = {"twitter2015": "BLIP2_15.txt", "twitter2017": "BLIP2_17.txt"}
TYPES = ("PER", "LOC", "ORG", "OTHER")


def row(name: str, label: str, scores: dict, seconds: float | None = None) -> str:
    per_type = " | ".join(percent(scores["per_type"].get(t, {"f1": 0})["f1"]) for t in TYPES)
    timing = f"{seconds:.0f}" if seconds is not None else "-"
    return (
        f"| {name} | {label} | {percent(scores['precision'])} | {percent(scores['recall'])} | {percent(scores['f1'])} | "
        f"{per_type} | {percent(scores['seen']['f1'])} | {percent(scores['unseen']['f1'])} | {timing} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--datasets", nargs="+", default=["twitter2017", "twitter2015"])
    parser.add_argument("--variants", nargs="+", default=["text", "caption"], choices=["text", "caption"])
    parser.add_argument("--stage1-epochs", type=float, default=3)
    parser.add_argument("--fold-epochs", type=float, default=2)
    parser.add_argument("--stage2-epochs", type=float, default=3)
    parser.add_argument("--seed", type=int, default=42)
    arguments = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    baseline = json.loads((BENCHMARK_DIR / "results" / "baseline_tokcls.json").read_text())["results"]
    stage = lambda epochs: StageTraining(epochs=epochs, batch_size=16, learning_rate=1e-4, warmup_ratio=0.1)  # noqa: E731
    rows, raw = [], {"settings": vars(arguments), "results": {}}
    for name in arguments.datasets:
        cache = BENCHMARK_DIR / "cache" / name
        recipe = Recipe(
            dataset=name, output_dir=str(cache), seed=arguments.seed, max_length=128, max_prompt_length=128,
            stage1=stage(arguments.stage1_epochs), stage2=stage(arguments.stage2_epochs), max_objects=15,
        )
        splits = load_benchmark(name)
        train, test = splits["train"], splits["test"]
        if name in baseline:
            rows.append(row(name, "(a) token classification baseline", baseline[name], baseline[name]["train_seconds"]))
        start = time.perf_counter()
        detector, detector_tokenizer = stage1_step(recipe, train, cache / "stage1")
        fold_recipe = dataclasses.replace(recipe, stage1=stage(arguments.fold_epochs))
        fold_spans = non_entity_step(fold_recipe, train, cache / "stage1_folds.json")
        stage1_seconds = time.perf_counter() - start
        raw["results"][f"{name}/stage1"] = evaluate_detector(detector, detector_tokenizer, test, train_split=train)
        for variant in arguments.variants:
            captions = str(default_data_dir() / "knowledge" / "pgim" / "blip2_captions" / CAPTIONS[name])
            knowledge = KnowledgeSettings(captions=captions if variant == "caption" else None)
            variant_recipe = dataclasses.replace(recipe, knowledge=knowledge)
            providers = knowledge_providers(knowledge)
            start = time.perf_counter()
            model, _, builder = stage2_step(
                variant_recipe, train, fold_spans, ["LOC", "ORG", "OTHER", "PER"], providers, cache / f"stage2-{variant}"
            )
            stage2_seconds = time.perf_counter() - start
            scores = evaluate_two_stage(
                detector, detector_tokenizer, model, builder, test, train_split=train, providers=providers
            )
            scores["stage2_train_seconds"] = stage2_seconds
            scores["stage1_and_folds_seconds"] = stage1_seconds
            raw["results"][f"{name}/{variant}"] = scores
            label = "(b) SCANNER text-only" if variant == "text" else "(c) SCANNER + BLIP-2 captions"
            rows.append(row(name, label, scores, stage2_seconds))
            print(rows[-1], flush=True)
            body = (
                f"Backbone `sentence-transformers/all-MiniLM-L6-v2` for both stages; stage 1 {arguments.stage1_epochs:g} "
                f"epochs, cross-fold (4 folds) detectors {arguments.fold_epochs:g} epochs, stage 2 "
                f"{arguments.stage2_epochs:g} epochs; batch 16, lr 1e-4, seed {arguments.seed}; prompts capped at 128 "
                "tokens (shortening counted in the log). No distillation yet (plain CE). Test split, seqeval strict IOB2; "
                "seen = entity string occurs as an entity in train. Train seconds: stage 2 only for SCANNER rows "
                "(stage 1 + folds are in the JSON), the whole run for the baseline; times overlap other work on the "
                "machine, so compare them within a run only.\n\n"
                "| dataset | system | P | R | F1 | PER | LOC | ORG | OTHER | seen F1 | unseen F1 | train s |\n"
                "|---|---|---|---|---|---|---|---|---|---|---|---|\n" + "\n".join(rows)
            )
            write_section("scanner_mner", "SCANNER on MNER (MiniLM, CPU budget)", body, raw)


if __name__ == "__main__":
    main()
