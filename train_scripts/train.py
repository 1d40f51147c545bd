"""Train SCANNER from a recipe config.

    accelerate launch train_scripts/train.py --config train_scripts/configs/twitter2017-cpu.yaml
    python train_scripts/train.py --config ... --set stage1.epochs=1

So far the recipe trains and tests the stage-1 span detector; it prints the test scores and writes
them next to the saved model.
"""

from __future__ import annotations

import argparse
import json
import logging

import yaml

from scanner_hf.evaluation import flatten_scores
from scanner_hf.recipe import load_recipe, train_stage1


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
    scores = train_stage1(recipe)
    print(f"stage-1 span detection on {recipe.dataset} test:")
    print(json.dumps({key: round(value, 4) for key, value in flatten_scores(scores).items()}, indent=2))


if __name__ == "__main__":
    main()
