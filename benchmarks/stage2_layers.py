"""A cheaper stage 2: the text-only recogniser built from MiniLM's first N layers
(``stage2_encoder_layers``), or packed (``stage2_packed``: all candidates of a tweet in one pass, see
scanner_hf.packing), or per candidate with the short prompt head (``stage2_prompt_head: short``), against the per-candidate 6-layer one, on Twitter-2017 with scanner_mner.py's
cached stage 1 and cross-fold spans (seed 42, same budget): test F1 / unseen F1 and stage-2 training
time. The models land in benchmarks/cache/twitter2017/stage2-text-L<N>, stage2-text-packed[-short] and stage2-text-short;
pipeline_speed.py times them (rows ``scanner_l2-*``, ``scanner_packed-*``) side by side with the others.

    python benchmarks/stage2_layers.py [--layers 2] [--packed template short] [--heads short]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import statistics
import time

from scanner_hf.recipe import recipe_trainer

from common import (
    BENCHMARK_DIR,
    commands_note,
    merged_commands,
    percent,
    spread,
    write_section,
)
from scanner_mner import RESULTS_FILE, benchmark_recipe

RAW_FILE = BENCHMARK_DIR / "results" / "stage2_layers.json"
SEEDS_FILE = BENCHMARK_DIR / "results" / "headline_seeds.json"
NAME = "twitter2017"
PACKED_BATCH = 8
PACKED_KEYS = {"template": "packed", "short": "packed-short"}
ROW_LABELS = {
    "packed": "6, packed (all candidates of a tweet in one pass)", "packed-short": "6, packed, short head (`<mask> {entity}`)",
    "head-short": "6, per candidate, short head (`<mask> {entity}`)",
}


def notes_of(by_seed: dict[str, dict]) -> str:
    notes = sorted({result["note"] for result in by_seed.values() if result.get("note")})
    return f" ({'; '.join(notes)})" if notes else ""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--layers", nargs="*", type=int, default=[], help="stage-2 encoder layers to train (e.g. 2)")
    parser.add_argument("--packed", nargs="*", default=[], choices=["template", "short"],
                        help="train the packed 6-layer stage 2 with these prompt heads (the paper's template; short: <mask> {entity})")
    parser.add_argument("--heads", nargs="*", default=[], choices=["short"],
                        help="train the per-candidate 6-layer stage 2 with these prompt heads (short: <mask> {entity})")
    parser.add_argument("--note", help="shown beside this run's rows (e.g. that stage 1 was retrained)")
    parser.add_argument("--seeds", nargs="+", type=int, default=[42],
                        help="stage-2 seeds (stage 1 and the spans stay seed 42's, as in headline_seeds.py)")
    arguments = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    recorded = json.loads(RESULTS_FILE.read_text())
    settings = recorded["settings"]
    previous = json.loads(RAW_FILE.read_text()) if RAW_FILE.exists() else {}
    ran = bool(arguments.layers or arguments.packed or arguments.heads)
    raw = {"results": previous.get("results", {}), "commands": merged_commands(previous, ran=ran)}
    variants = [(str(layers), f"stage2-text-L{layers}", {"stage2_encoder_layers": layers}) for layers in arguments.layers]
    variants += [
        (PACKED_KEYS[head], f"stage2-text-{PACKED_KEYS[head]}", {"stage2_packed": True, "stage2_prompt_head": head}) for head in arguments.packed
    ]
    variants += [(f"head-{head}", f"stage2-text-{head}", {"stage2_prompt_head": head}) for head in arguments.heads]
    for (base, folder, overrides), seed in [(variant, seed) for variant in variants for seed in arguments.seeds]:
        key = base if seed == settings["seed"] else f"{base}@{seed}"
        if seed != settings["seed"]:
            folder = f"seed-{seed}/{folder}"
        recipe = benchmark_recipe(NAME, settings, "text", seed=seed, **overrides)
        if base in PACKED_KEYS.values():  # a batch of tweets with all their candidates: 8 tweets hold about the 16 candidates of the others' batch
            recipe = dataclasses.replace(recipe, stage2=dataclasses.replace(recipe.stage2, batch_size=PACKED_BATCH))
        trainer = recipe_trainer(recipe)
        trainer.train_span_detector()  # the cached stage 1
        start = time.perf_counter()
        trainer.train_entity_recognizer(trainer.output_dir / folder)
        seconds = time.perf_counter() - start
        scores = trainer.evaluate()
        raw["results"][key] = {"f1": scores["f1"], "seen_f1": scores["seen"]["f1"], "unseen_f1": scores["unseen"]["f1"], "stage2_train_seconds": seconds}
        if arguments.note:
            raw["results"][key]["note"] = arguments.note
        print(key, raw["results"][key], flush=True)
    full = recorded["results"][f"{NAME}/text"]
    per_seed = json.loads(SEEDS_FILE.read_text())["results"][NAME]["text"] if SEEDS_FILE.exists() else {}
    rows = [(
        f"| 6 (all; scanner_mner.py's text row) | 42 | {percent(full['f1'])} | {percent(full['seen']['f1'])} | "
        f"{percent(full['unseen']['f1'])} | {full['stage2_train_seconds']:.0f} |"
    )]
    if len(per_seed) > 1:
        seeds = sorted(per_seed, key=int)
        rows.append(
            f"| 6 (all; headline_seeds.py's text rows) | {', '.join(seeds)} | {spread([per_seed[s]['f1'] for s in seeds])} | "
            f"{spread([per_seed[s]['seen']['f1'] for s in seeds])} | {spread([per_seed[s]['unseen']['f1'] for s in seeds])} | - |"
        )
    grouped: dict[str, dict[str, dict]] = {}
    for key, result in raw["results"].items():
        base, _, seed = key.partition("@")
        grouped.setdefault(base, {})[seed or str(settings["seed"])] = result
    for base, by_seed in sorted(grouped.items(), key=lambda item: -int(item[0]) if item[0].isdigit() else 0):
        seeds = sorted(by_seed, key=int)
        summary = spread if len(seeds) > 1 else (lambda values: percent(values[0]))
        rows.append(
            f"| {ROW_LABELS.get(base, base)}{notes_of(by_seed)} | {', '.join(seeds)} | {summary([by_seed[s]['f1'] for s in seeds])} | "
            f"{summary([by_seed[s]['seen_f1'] for s in seeds])} | {summary([by_seed[s]['unseen_f1'] for s in seeds])} | "
            f"{statistics.mean(by_seed[s]['stage2_train_seconds'] for s in seeds):.0f} |"
        )
    body = (
        "Twitter-2017, text-only stage 2 on scanner_mner.py's cached stage 1 and cross-fold non-entity spans (MiniLM, "
        "stage 2 3 epochs, batch 16, lr 1e-4, prompts <= 128 tokens; seeds as listed); the recogniser keeps the backbone's first N "
        "layers (`stage2_encoder_layers: N`), or is packed (`stage2_packed: true`: the tweet once, then each candidate's "
        f"`The entity is <mask> for {{entity}} in this sentence.`, or only `<mask> {{entity}}` with `stage2_prompt_head: short`, "
        f"kept apart by the attention mask; batch {PACKED_BATCH} tweets with all their candidates). Test split, seqeval strict IOB2. Stage-2 train seconds are from different "
        "runs (the 6-layer one from scanner_mner.py): compare speed in the pipeline-speed section, which times both "
        "side by side. " + commands_note(raw["commands"]) + "\n"
        "Several seeds: mean ± sample standard deviation (stage 2 retrained per seed on seed 42's stage 1 and spans).\n\n"
        "| stage-2 encoder layers | seeds | F1 | seen F1 | unseen F1 | stage-2 train s |\n|---|---|---|---|---|---|\n" + "\n".join(rows)
    )
    write_section("stage2_layers", "A cheaper stage 2: fewer encoder layers or packed candidates", body, raw)


if __name__ == "__main__":
    main()
