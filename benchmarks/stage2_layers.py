"""A cheaper stage 2: the text-only recogniser built from MiniLM's first N layers
(``stage2_encoder_layers``) against the full 6-layer one, on Twitter-2017 with scanner_mner.py's cached
stage 1 and cross-fold spans (seed 42, same budget): test F1 / unseen F1 and stage-2 training time.
Each model lands in benchmarks/cache/twitter2017/stage2-text-L<N>; pipeline_speed.py times the
2-layer one (rows ``scanner_l2-*``) side by side with the others.

    python benchmarks/stage2_layers.py [--layers 2]
"""

from __future__ import annotations

import argparse
import json
import logging
import time

from common import BENCHMARK_DIR, commands_note, merged_commands, percent, write_section
from scanner_mner import RESULTS_FILE, benchmark_recipe

from scanner_hf.recipe import recipe_trainer

RAW_FILE = BENCHMARK_DIR / "results" / "stage2_layers.json"
NAME = "twitter2017"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--layers", nargs="*", type=int, default=[2], help="none: only rewrite the section")
    arguments = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    recorded = json.loads(RESULTS_FILE.read_text())
    settings = recorded["settings"]
    previous = json.loads(RAW_FILE.read_text()) if RAW_FILE.exists() else {}
    raw = {"results": previous.get("results", {}), "commands": merged_commands(previous, ran=bool(arguments.layers))}
    for layers in arguments.layers:
        trainer = recipe_trainer(benchmark_recipe(NAME, settings, "text", stage2_encoder_layers=layers))
        trainer.train_span_detector()  # the cached stage 1
        start = time.perf_counter()
        trainer.train_entity_recognizer(trainer.output_dir / f"stage2-text-L{layers}")
        seconds = time.perf_counter() - start
        scores = trainer.evaluate()
        raw["results"][str(layers)] = {"f1": scores["f1"], "seen_f1": scores["seen"]["f1"], "unseen_f1": scores["unseen"]["f1"], "stage2_train_seconds": seconds}
        print(layers, raw["results"][str(layers)], flush=True)
    full = recorded["results"][f"{NAME}/text"]
    rows = [f"| 6 (all; scanner_mner.py's text row) | {percent(full['f1'])} | {percent(full['seen']['f1'])} | {percent(full['unseen']['f1'])} | {full['stage2_train_seconds']:.0f} |"]
    for layers, result in sorted(raw["results"].items(), key=lambda item: -int(item[0])):
        rows.append(f"| {layers} | {percent(result['f1'])} | {percent(result['seen_f1'])} | {percent(result['unseen_f1'])} | {result['stage2_train_seconds']:.0f} |")
    body = (
        "Twitter-2017, text-only stage 2 on scanner_mner.py's cached stage 1 and cross-fold non-entity spans (MiniLM, "
        "stage 2 3 epochs, batch 16, lr 1e-4, seed 42, prompts <= 128 tokens); the recogniser keeps the backbone's first N "
        "layers (`stage2_encoder_layers: N`). Test split, seqeval strict IOB2. Stage-2 train seconds are from different "
        "runs (the 6-layer one from scanner_mner.py): compare speed in the pipeline-speed section, which times both "
        "side by side. " + commands_note(raw["commands"]) + "\n"
        "| stage-2 encoder layers | F1 | seen F1 | unseen F1 | stage-2 train s |\n|---|---|---|---|---|\n" + "\n".join(rows)
    )
    write_section("stage2_layers", "A cheaper stage 2: fewer encoder layers", body, raw)


if __name__ == "__main__":
    main()
