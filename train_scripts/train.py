"""Train SCANNER from a recipe config.

    accelerate launch train_scripts/train.py --config train_scripts/configs/twitter2017-cpu.yaml
    python train_scripts/train.py --config ... --set stage1.epochs=1

The recipe trains the stage-1 detector, the cross-fold non-entity candidates and the stage-2
recogniser, then prints the test scores (also written under the run's output_dir).
"""

from __future__ import annotations

import argparse
import json
import logging

import yaml

from scanner_hf.evaluation import flatten_scores
from scanner_hf.recipe import load_recipe, run_recipe


def parse_overrides(pairs: list[str]) -> dict:
    """``["stage1.epochs=1", "seed=3"]`` -> ``{"stage1": {"epochs": 1}, "seed": 3}``."""
    overrides: dict = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise SystemExit(f"--set expects KEY=VALUE, got {pair!r}")
        *parents, leaf = key.split(".")
        target = overrides
        for parent in parents:
            target = target.setdefault(parent, {})
        target[leaf] = yaml.safe_load(value)
    return overrides


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", required=True, help="recipe YAML (train_scripts/configs/*.yaml)")
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="override config values")
    arguments = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    recipe = load_recipe(arguments.config, parse_overrides(arguments.set))
    scores = run_recipe(recipe)
    for name, title in (("stage1", "stage-1 span detection"), ("scanner", "SCANNER (both stages)")):
        if name in scores:
            print(f"{title} on {recipe.dataset} test:")
            print(json.dumps({key: round(value, 4) for key, value in flatten_scores(scores[name]).items()}, indent=2))


if __name__ == "__main__":
    main()
