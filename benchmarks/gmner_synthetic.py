"""GMNER on the synthetic grounded set (scanner_hf.data.synthetic): does stage 2 learn to ground?

The set is written in Twitter-GMNER's layout and trained with the same recipe a user with the real
tweet images and VinVL regions would run (dataset twitter_gmner, knowledge.objects = the region
folder, lambda = 1, 18 objects). Reported: GMNER F1 in both modes with MNER and EEG F1, the regions'
coverage ceiling, and grounding accuracy (share of correctly typed entities whose box, or None, is right).
Baselines for grounding: a random candidate region for every entity, and "not in the image" for every entity.

    python benchmarks/gmner_synthetic.py
"""

from __future__ import annotations

import argparse
import random

from common import BENCHMARK_DIR, percent, write_section

from scanner_hf.data import load_benchmark
from scanner_hf.data.synthetic import make_synthetic_gmner
from scanner_hf.evaluation.metrics import grounding_correct
from scanner_hf.knowledge import PrecomputedObjects
from scanner_hf.training.recipe import KnowledgeSettings, Recipe, run_recipe


def always_none(root) -> float:
    """Grounding accuracy of predicting "not in the image" for every entity (the ungroundable share)."""
    entities = [e for row in load_benchmark("twitter_gmner", root)["test"]["entities"] for e in row]
    return sum(not e["boxes"] for e in entities) / len(entities)


def chance_grounding(root) -> float:
    """Expected grounding accuracy of a random region (None never chosen) on the test split."""
    test = load_benchmark("twitter_gmner", root)["test"]
    regions = PrecomputedObjects(root / "objects")
    rng, right, total = random.Random(0), 0, 0
    for image_id, entities in zip(test["image_id"], test["entities"]):
        boxes = [o.box for o in regions.objects_for(image_id)]
        for entity in entities:
            total += 1
            right += grounding_correct(rng.choice(boxes), entity["boxes"], "candidate")
    return right / total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--train", type=int, default=600)
    parser.add_argument("--stage2-epochs", type=float, default=3)
    arguments = parser.parse_args()
    root = make_synthetic_gmner(BENCHMARK_DIR / "cache" / "synthetic_gmner", {"train": arguments.train, "dev": 100, "test": 150})
    recipe = Recipe(
        dataset="twitter_gmner", data_dir=str(root), output_dir=str(BENCHMARK_DIR / "cache" / "synthetic_gmner_run"),
        stage1_max_length=64, max_prompt_length=160, non_entity_folds=0, grounding_weight=1.0, max_objects=18, resume=False,
        word_shapes=False, candidate_threshold=None, tune_candidate_threshold=False, max_context_words=None,  # the paper's system
        stage1={"num_train_epochs": 2, "per_device_train_batch_size": 16, "learning_rate": 1e-4},
        stage2={"num_train_epochs": arguments.stage2_epochs, "per_device_train_batch_size": 16, "learning_rate": 1e-4},
        knowledge=KnowledgeSettings(objects=str(root / "objects")),
    )
    scores = run_recipe(recipe)["scanner"]
    chance, none_only = chance_grounding(root), always_none(root)
    rows = []
    for mode in ("gmner_candidate", "gmner_box"):
        part = scores[mode]
        rows.append(
            f"| {part['mode']} | {percent(part['precision'])} | {percent(part['recall'])} | {percent(part['f1'])} | "
            f"{percent(part['mner']['f1'])} | {percent(part['eeg']['f1'])} | {percent(part['coverage'])} |"
        )
    body = (
        f"Synthetic set: {arguments.train} / 100 / 150 tweets (train / dev / test), 2-4 shapes per image, candidate "
        "regions = true shapes + loose boxes on them + background distractors, shuffled. MiniLM, stage 1 2 epochs, stage 2 "
        f"{arguments.stage2_epochs:g} epochs, lambda 1, 18 objects, no cross-fold non-entities. Test split.\n\n"
        "| mode | GMNER P | GMNER R | GMNER F1 | MNER F1 | EEG F1 | region coverage |\n|---|---|---|---|---|---|---|\n"
        + "\n".join(rows)
        + f"\n\nGrounding accuracy (correctly typed entities whose box, or None, is right): "
        f"{percent(scores['grounding_accuracy'])} (box threshold {scores['box_threshold']:.2f}, chosen on dev); "
        f"a random region gives {percent(chance)}, always \"not in the image\" {percent(none_only)}."
    )
    print(body)
    write_section(
        "gmner_synthetic", "GMNER: grounding on the synthetic set", body, {"scores": scores, "chance": chance, "always_none": none_only}
    )


if __name__ == "__main__":
    main()
