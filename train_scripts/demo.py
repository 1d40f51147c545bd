"""Try a trained SCANNER checkpoint as a new user would: no training, just the pipeline.

    python train_scripts/demo.py runs/twitter2017-cpu-demo/scanner [--dataset twitter2017] [--count 3]

Loads the saved composite from its folder with ``pipeline("scanner-ner")``, runs it on a few test
tweets with their precomputed BLIP-2 captions (the tweet images are not distributed with the data),
prints the transformers-style output, and renders the first tweet to HTML. When the folder comes from
a training run (its ``test_scores.json`` beside it), it prints those test scores next to the default
system's recorded full-budget scores: the ``*-cpu`` preset over its seeds (``benchmarks/results/default_system.json``).
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

from transformers import pipeline

import scanner_hf  # noqa: F401  (registers "scanner-ner")
from scanner_hf.data import default_data_dir, load_benchmark
from scanner_hf.knowledge import PrecomputedCaptions
from scanner_hf.visualize import render_html

CAPTION_FILES = {"twitter2015": "BLIP2_15.txt", "twitter2017": "BLIP2_17.txt"}
RECORDED = Path(__file__).resolve().parents[1] / "benchmarks" / "results" / "default_system.json"


def recorded_scores(dataset: str) -> dict[str, str] | None:
    """The ``<dataset>-cpu`` preset's recorded test F1 and unseen F1 at full budget, mean ± sd over its seeds."""
    if not RECORDED.is_file():
        return None
    runs = list(json.loads(RECORDED.read_text())["runs"].get(dataset, {}).values())
    if not runs:
        return None

    def spread(values: list[float]) -> str:
        return f"{100 * statistics.mean(values):.2f}" + (f" ± {100 * statistics.stdev(values):.2f}" if len(values) > 1 else "")

    return {name: f"{spread([run[name] for run in runs])} ({len(runs)} seed{'s' if len(runs) > 1 else ''})" for name in ("f1", "unseen_f1")}


def print_scores(model: str, dataset: str) -> None:
    scores_file = Path(model).parent / "test_scores.json"
    if not scores_file.is_file():
        return
    scores = json.loads(scores_file.read_text())
    recorded = recorded_scores(dataset) or {}
    print(f"\n{dataset} test     this run    the default system at full budget (benchmarks/RESULTS.md, 'Default system')")
    ran = {"f1": scores["f1"], "unseen_f1": scores["unseen"]["f1"]}
    for name, label in (("f1", "F1"), ("unseen_f1", "unseen F1")):
        print(f"  {label:<12} {100 * ran[name]:>8.2f}    {recorded.get(name, 'not recorded')}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", help="a saved SCANNER folder (or Hub id)")
    parser.add_argument("--dataset", default="twitter2017", choices=sorted(CAPTION_FILES))
    parser.add_argument("--count", type=int, default=3)
    parser.add_argument("--render", default="demo.html")
    arguments = parser.parse_args()

    ner = pipeline("scanner-ner", model=arguments.model)
    test = load_benchmark(arguments.dataset)["test"].select(range(arguments.count))
    captions = PrecomputedCaptions.from_file(default_data_dir() / "knowledge" / "pgim" / "blip2_captions" / CAPTION_FILES[arguments.dataset]).captions
    inputs = [{"text": " ".join(row["tokens"]), "caption": captions.get(row["image_id"])} for row in test]
    for value, entities in zip(inputs, ner(inputs)):
        print(f"\n{value['text']}\n  caption: {value['caption']}")
        print("  " + json.dumps(entities, indent=2).replace("\n", "\n  "))
    first = inputs[0]
    Path(arguments.render).write_text(render_html(first["text"], ner(first), title=f"caption: {first['caption']}"))
    print(f"\nrendered the first tweet to {arguments.render}")
    print_scores(arguments.model, arguments.dataset)


if __name__ == "__main__":
    main()
