"""Mean and spread over seeds of the headline rows: the token-classification baseline and SCANNER
variants of scanner_mner.py (by default SCANNER full, caption + Wikipedia + TYT; ``--variants text
text+kb`` for the knowledge rows) on the MiniLM CPU budget.

Seed 42 comes from the recorded runs (results/baseline_tokcls.json, results/scanner_mner.json); each
further seed retrains the baseline and SCANNER's stage 2 (a ``+tyt`` variant: teacher, then TYT
student) with that seed. Stage 1 and the cross-fold non-entity spans are seed 42's, shared (retraining
them per seed does not fit the CPU budget), so SCANNER's spread is stage 2's. Cached under
benchmarks/cache/<dataset>/seed-<n>.

    python benchmarks/headline_seeds.py [--datasets twitter2017] [--seeds 43 44] [--variants caption+wiki+tyt]
"""

from __future__ import annotations

import argparse
import json
import logging
import tempfile

from common import (
    BENCHMARK_DIR,
    commands_note,
    merged_commands,
    percent,
    spread,
    write_section,
)
from scanner_mner import LABELS, parse_variant, train_and_score_variant
from scanner_mner import RESULTS_FILE as SCANNER_RESULTS
from token_classification import Budget, train_and_score

FULL = "caption+wiki+tyt"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--datasets", nargs="+", default=["twitter2017"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[43, 44])
    parser.add_argument("--variants", nargs="+", default=[FULL], help="scanner_mner.py variants with a recorded seed-42 row")
    parser.add_argument("--render", action="store_true", help="rewrite the RESULTS.md section from the recorded rows, run nothing")
    parser.add_argument("--row", help="record under this row name instead of the variant's (one variant): a rerun beside the "
                        "recorded rows, e.g. on a stage 1 retrained on another machine; its seeds train even where the variant has them")
    parser.add_argument("--note", help="a sentence kept in the section's text (e.g. which runs used which stage 1)")
    arguments = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    results_file = BENCHMARK_DIR / "results" / "headline_seeds.json"
    raw = json.loads(results_file.read_text()) if results_file.exists() else {}
    commands = merged_commands(raw, ran=not arguments.render)
    raw = {"results": raw.get("results", {}), "commands": commands, "notes": raw.get("notes", [])}
    if arguments.note and arguments.note not in raw["notes"]:
        raw["notes"].append(arguments.note)
    if arguments.row and len(arguments.variants) != 1:
        raise SystemExit("--row names the row of one variant")
    for runs in raw["results"].values():
        if "scanner" in runs:  # results written before --variants: SCANNER full
            runs[FULL] = runs.pop("scanner")
    if arguments.render:
        write_table(raw)
        return
    baseline_42 = json.loads((BENCHMARK_DIR / "results" / "baseline_tokcls.json").read_text())["results"]
    scanner_42 = json.loads(SCANNER_RESULTS.read_text())
    settings = scanner_42["settings"]
    for variant in arguments.variants:
        parse_variant(variant)
    for name in arguments.datasets:
        runs = raw["results"].setdefault(name, {"baseline": {}})
        runs["baseline"]["42"] = baseline_42[name]
        for variant in arguments.variants:
            recorded = scanner_42["results"].get(f"{name}/{variant}")
            if recorded is None:
                raise SystemExit(f"no seed-42 row for {name}/{variant}: run scanner_mner.py --datasets {name} --variants {variant}")
            runs.setdefault(arguments.row or variant, {})
            if not arguments.row:
                runs[variant]["42"] = recorded
        for seed in arguments.seeds:
            if str(seed) not in runs["baseline"]:
                with tempfile.TemporaryDirectory() as output_dir:
                    runs["baseline"][str(seed)] = train_and_score(name, "typed", Budget(seed=seed), output_dir)
            for variant in arguments.variants:
                row = arguments.row or variant
                if str(seed) not in runs[row]:
                    runs[row][str(seed)] = train_and_score_variant(name, settings, variant, seed)
                write_table(raw)


def write_table(raw: dict) -> None:
    rows = []
    for dataset, systems in raw["results"].items():
        ordered = ["baseline"] + [v for v in LABELS if v in systems] + sorted(set(systems) - set(LABELS) - {"baseline"})
        for system in ordered:
            label = "token classification baseline" if system == "baseline" else "SCANNER " + LABELS.get(system, system)
            by_seed = systems[system]
            seeds = sorted(by_seed, key=int)
            rows.append(
                f"| {dataset} | {label} | {', '.join(seeds)} | {spread([by_seed[s]['f1'] for s in seeds])} | "
                f"{spread([by_seed[s]['seen']['f1'] for s in seeds])} | {spread([by_seed[s]['unseen']['f1'] for s in seeds])} | "
                f"{', '.join(percent(by_seed[s]['f1']) for s in seeds)} |"
            )
    body = (
        "Same budget as the scanner_mner section (MiniLM, stage 2 3 epochs, batch 16, lr 1e-4, prompts <= 128 "
        "tokens; row names and knowledge as there); the baseline as in baseline_tokcls (3 epochs). Seed 42 is the "
        "recorded run; other seeds retrain the baseline and SCANNER's stage 2 (for a TYT row, teacher + TYT student); "
        "stage 1 and the cross-fold spans are seed 42's for every SCANNER seed. Mean ± sample standard deviation "
        "over the seeds listed. " + "".join(note.rstrip() + " " for note in raw.get("notes", [])) + commands_note(raw["commands"]) + "\n"
        "| dataset | system | seeds | F1 | seen F1 | unseen F1 | F1 per seed |\n|---|---|---|---|---|---|---|\n"
        + "\n".join(rows)
    )
    write_section("headline_seeds", "Headline rows over seeds (MiniLM, CPU budget)", body, raw)


if __name__ == "__main__":
    main()
