"""The default system as a user trains it: the ``<dataset>-cpu`` preset run through ``load_recipe`` ->
``recipe_trainer`` -> ``train()`` (what ``scanner-ner train --config`` does), one seed at a time, stage 1
retrained per seed, beside the recorded three-seed rows of the paper's recipe and of token classification
on the same backbone (section "Headline rows over seeds") and the default system's rows in "The bar"
(the same settings run by unseen_bar.py; its seeds 43-44 retrained stage 2 only).

    python benchmarks/default_system.py [--datasets twitter2017 twitter2015 conll2003] [--seeds 42 43 44]
    python benchmarks/default_system.py --datasets      # only rewrite the section
    python benchmarks/default_system.py --datasets twitter2017 --stage1-screening   # the preset + stage1_screening

``--stage1-screening`` trains the preset with ``stage1_screening: true`` (a typed stage 1 whose confident
types answer without stage 2), its threshold chosen by best validation F1 (ties to the faster), and scores
on test: that threshold, the old rule's (the lowest within 0.1 F1 of stage 2 alone on validation), and
stage 2 typing every candidate; models in benchmarks/cache/default-<dataset>-screening-seed-<n>.

The rows of the preset + stage-1 knowledge (``kb_features`` / ``kb_candidates``, run before they were
removed: they did not beat the preset) stay in the table as history, marked *removed*.

Each finished run is saved at once (results/default_system.json), so a cut session keeps it; models go
to benchmarks/cache/default-<dataset>-seed-<n>.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path

from common import BENCHMARK_DIR, commands_note, merged_commands, percent, spread, tolerance_rule, typed_again, write_section

from scanner_hf.training.recipe import load_recipe, recipe_trainer

CONFIGS = Path(__file__).resolve().parents[1] / "train_scripts" / "configs"
PRESETS = {"twitter2017": "twitter2017-cpu.yaml", "twitter2015": "twitter2015-cpu.yaml", "conll2003": "conll2003-cpu.yaml"}
RAW_FILE = BENCHMARK_DIR / "results" / "default_system.json"
RECORDED = {"baseline": "token classification (recorded)", "caption+wiki+tyt": "SCANNER, the paper's recipe: caption + ovos + TYT (recorded)"}


# recorded runs of the removed stage-1 knowledge settings (scanner-hf's code no longer has them)
REMOVED_KNOWLEDGE_LABELS = {"both": "stage-1 knowledge (`kb_features: true, kb_candidates: true`",
                            "features": "KB features alone (`kb_features: true`", "candidates": "KB candidates alone (`kb_candidates: true`"}


def run(dataset: str, seed: int, stage1_screening: bool = False) -> dict:
    name = f"default-{dataset}{'-screening' if stage1_screening else ''}-seed-{seed}"
    overrides = {"seed": seed, "output_dir": str(BENCHMARK_DIR / "cache" / name)}
    if stage1_screening:
        overrides["stage1_screening"] = True
    trainer = recipe_trainer(load_recipe(CONFIGS / PRESETS[dataset], overrides))
    start = time.perf_counter()
    scanner = trainer.train()["scanner"]
    result = {
        "f1": scanner["f1"], "seen_f1": scanner["seen"]["f1"], "unseen_f1": scanner["unseen"]["f1"],
        "candidate_threshold": scanner["candidate_threshold"],
        "candidate_threshold_dev_f1": trainer.scores.get("candidate_threshold_dev_f1"), "seconds": time.perf_counter() - start,
    }
    if stage1_screening:  # the chosen threshold's scores are the run's; beside them the old rule's and stage 2 alone
        dev = trainer.scores["screening_dev"]
        old = tolerance_rule(dev)
        alone, within = trainer.evaluate(screen=False), trainer.evaluate(screening_threshold=old)
        result.update(
            threshold=trainer.screening_threshold, threshold_within_tolerance=old, dev=dev,
            recogniser={"f1": alone["f1"], "unseen_f1": alone["unseen"]["f1"]},
            within_tolerance={"f1": within["f1"], "unseen_f1": within["unseen"]["f1"]},
        )
    return result


def screening_rows(dataset: str, runs: dict) -> list[str]:
    """The preset + stage1_screening over its seeds: test F1 (unseen) at the threshold each rule chose on
    validation (with that threshold and the share of validation candidates it sends to stage 2, per seed),
    and with stage 2 typing every candidate."""
    if not runs:
        return []
    ordered = sorted(runs, key=int)

    def chosen(key: str) -> str:
        return ", ".join(f"seed {seed}: {runs[seed][key]:g} ({percent(typed_again({'dev': runs[seed]['dev'], 'threshold': runs[seed][key]}))} %)"
                         for seed in ordered)

    systems = (
        ("the default system + `stage1_screening: true`, threshold by best validation F1 (the rule now): " + chosen("threshold"),
         {seed: {"f1": runs[seed]["f1"], "unseen_f1": runs[seed]["unseen_f1"]} for seed in ordered}),
        ("the same models, the old rule (lowest threshold within 0.1 F1 of stage 2 alone): " + chosen("threshold_within_tolerance"),
         {seed: runs[seed]["within_tolerance"] for seed in ordered}),
        ("the same models, stage 2 typing every candidate (no screening)", {seed: runs[seed]["recogniser"] for seed in ordered}),
    )
    return [row(dataset, label, seeds) for label, seeds in systems]


def recorded_rows(dataset: str) -> list[str]:
    """The recorded three-seed rows of headline_seeds.py and the default system's seeds in unseen_bar.py."""
    rows = []
    headline = BENCHMARK_DIR / "results" / "headline_seeds.json"
    results = json.loads(headline.read_text())["results"].get(dataset, {}) if headline.is_file() else {}
    for key, label in RECORDED.items():
        seeds = results.get(key, {})
        if seeds:
            rows.append(row(dataset, label, {s: {"f1": r["f1"], "unseen_f1": r["unseen"]["f1"]} for s, r in seeds.items()}))
    conll = BENCHMARK_DIR / "results" / "conll2003.json"
    if dataset == "conll2003" and conll.is_file():  # recorded once, seed 42 (conll2003.py)
        recorded = json.loads(conll.read_text())["results"]
        for key, label in (("baseline", RECORDED["baseline"]), ("scanner", "SCANNER, the paper's recipe: stage-1 TYT, text-only (recorded)")):
            scores = recorded[key]["scanner"] if key == "scanner" else recorded[key]
            rows.append(row(dataset, label, {"42": {"f1": scores["f1"], "unseen_f1": scores["unseen"]["f1"]}}))
    bar = BENCHMARK_DIR / "results" / "unseen_bar.json"
    if bar.is_file():
        runs = json.loads(bar.read_text())["results"]
        seeds = {key.rsplit("seed-", 1)[-1] if "seed-" in key else "42": run["per_threshold"][run["chosen"]]
                 for key, run in runs.items() if key.startswith(f"{dataset}/caption+kb/over") and "shapes2" not in key}
        if seeds:
            rows.append(row(dataset, "the default system in 'The bar' (seeds 43-44: stage 2 retrained only; recorded)", seeds))
    return rows


def row(dataset: str, label: str, seeds: dict) -> str:
    ordered = sorted(seeds, key=int)
    return (f"| {dataset} | {label} | {', '.join(ordered)} | {spread([seeds[s]['f1'] for s in ordered])} | "
            f"{spread([seeds[s]['unseen_f1'] for s in ordered])} | {', '.join(percent(seeds[s]['f1']) for s in ordered)} |")


def chosen_row(label: str, runs: dict) -> str:
    """Per seed, what validation chose stage 1 to propose: the threshold (or arg-max), and KB candidates if kept."""
    chosen = [f"seed {seed}: {'arg-max' if runs[seed]['candidate_threshold'] is None else runs[seed]['candidate_threshold']}"
              f"{' + KB candidates' if runs[seed].get('kb_candidates') else ''}" for seed in sorted(runs, key=int)]
    return f"| | {label} | | {', '.join(chosen)} | | |"


def report(raw: dict) -> str:
    lines = []
    for dataset in PRESETS:
        runs = raw["runs"].get(dataset, {})
        if runs:
            lines.append(row(dataset, f"**the default system** (`{PRESETS[dataset][:-5]}`, stage 1 retrained per seed)", runs))
            lines.append(chosen_row("its proposal threshold chosen on validation", runs))
            lines += recorded_rows(dataset)
        lines += screening_rows(dataset, raw.get("screening_runs", {}).get(dataset, {}))
        for part, label in REMOVED_KNOWLEDGE_LABELS.items():
            knowledge = raw.get("knowledge_runs", {}).get(dataset if part == "both" else f"{dataset}/{part}", {})
            if knowledge:
                lines.append(row(dataset, f"*removed*: the default system + {label}, stage 1 retrained per seed)", knowledge))
                lines.append(chosen_row("its proposals chosen on validation", knowledge))
    note = ("\n\nScreening rows: in brackets after each threshold, the share of validation candidates it sends to stage 2 "
            "(the rest keep stage 1's type)." if raw.get("screening_runs") else "")
    return (
        "Each preset trained as `scanner-ner train --config train_scripts/configs/<dataset>-cpu.yaml --set seed=N` does "
        "(MiniLM, 2 CPU cores; the presets' comments give the settings), test split, seqeval strict IOB2; "
        "unseen = the entity string is not an entity of train. Mean ± sample sd over the seeds listed.\n\n"
        + commands_note(raw["commands"]) + "\n"
        "| dataset | system | seeds | test F1 | unseen F1 | F1 per seed |\n|---|---|---|---|---|---|\n" + "\n".join(lines) + note
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", nargs="*", default=["twitter2017", "twitter2015"], choices=sorted(PRESETS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[42])
    parser.add_argument("--stage1-screening", action="store_true", help="train the presets with stage1_screening: true")
    arguments = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    previous = json.loads(RAW_FILE.read_text()) if RAW_FILE.exists() else {}
    runs, screening_runs = previous.get("runs", {}), previous.get("screening_runs", {})
    knowledge_runs = previous.get("knowledge_runs", {})
    raw = {"runs": runs, "screening_runs": screening_runs, "knowledge_runs": knowledge_runs,
           "commands": merged_commands(previous, ran=bool(arguments.datasets))}
    for dataset in arguments.datasets:
        for seed in arguments.seeds:
            target, key = runs, dataset
            if arguments.stage1_screening:
                target = screening_runs
            target.setdefault(key, {})[str(seed)] = run(dataset, seed, arguments.stage1_screening)
            write_section("default_system", "Default system", report(raw), raw)  # each finished run is kept
    write_section("default_system", "Default system", report(raw), raw)


if __name__ == "__main__":
    main()
