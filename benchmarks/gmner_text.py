"""Twitter-GMNER (v1), text side: MNER F1 of SCANNER on its test split with BLIP-2 captions (the
tweet images and VinVL regions are not available here, so no grounding), MiniLM, CPU budget.

    python benchmarks/gmner_text.py [--stage1-epochs 2] [--stage2-epochs 2]
"""

from __future__ import annotations

import argparse

from common import BENCHMARK_DIR, percent, write_section

from scanner_hf.data import default_data_dir
from scanner_hf.training.recipe import KnowledgeSettings, Recipe, run_recipe

TYPES = ("PER", "LOC", "ORG", "OTHER")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--stage1-epochs", type=float, default=2)
    parser.add_argument("--stage2-epochs", type=float, default=2)
    arguments = parser.parse_args()
    captions = default_data_dir() / "knowledge" / "pgim" / "blip2_captions"
    recipe = Recipe(
        dataset="twitter_gmner", output_dir=str(BENCHMARK_DIR / "cache" / "twitter_gmner_text"), stage1_max_length=128,
        max_prompt_length=128, non_entity_folds=0, resume=False, select_best_on_dev=False,
        word_shapes=False, candidate_threshold=None, tune_candidate_threshold=False, max_context_words=None,  # the paper's system
        stage1={"num_train_epochs": arguments.stage1_epochs, "per_device_train_batch_size": 16, "learning_rate": 1e-4},
        stage2={"num_train_epochs": arguments.stage2_epochs, "per_device_train_batch_size": 16, "learning_rate": 1e-4},
        knowledge=KnowledgeSettings(captions=[str(captions / "BLIP2_15.txt"), str(captions / "BLIP2_17.txt")]),
    )
    scores = run_recipe(recipe)
    mner, spans = scores["scanner"], scores["stage1"]
    per_type = " | ".join(percent(mner["per_type"][t]["f1"]) for t in TYPES)
    body = (
        f"Twitter-GMNER v1 test (1,500 tweets), MiniLM, stage 1 {arguments.stage1_epochs:g} epochs, stage 2 "
        f"{arguments.stage2_epochs:g} epochs with BLIP-2 captions, batch 16, lr 1e-4, seed 42, no cross-fold "
        "non-entities, no distillation, no dev selection (a CPU-budget run). MNER = span + type, seqeval strict IOB2.\n\n"
        "| system | P | R | F1 | PER | LOC | ORG | OTHER | seen F1 | unseen F1 | stage-1 span F1 |\n"
        "|---|---|---|---|---|---|---|---|---|---|---|\n"
        f"| SCANNER + captions | {percent(mner['precision'])} | {percent(mner['recall'])} | {percent(mner['f1'])} | {per_type} | "
        f"{percent(mner['seen']['f1'])} | {percent(mner['unseen']['f1'])} | {percent(spans['f1'])} |"
    )
    print(body)
    write_section("gmner_text", "Twitter-GMNER: the text side (MNER F1 with captions)", body, {"scores": scores})


if __name__ == "__main__":
    main()
