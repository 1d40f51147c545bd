"""Try a trained SCANNER checkpoint as a new user would: no training, just the pipeline.

    python train_scripts/demo.py runs/twitter2017-cpu-demo/scanner [--dataset twitter2017] [--count 3]

Loads the saved composite from its folder with ``pipeline("scanner-ner")``, runs it on a few test
tweets with their precomputed BLIP-2 captions (the tweet images are not distributed with the data),
prints the transformers-style output, and renders the first tweet to HTML.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from transformers import pipeline

import scanner_hf  # noqa: F401  (registers "scanner-ner")
from scanner_hf.data import default_data_dir, load_benchmark
from scanner_hf.knowledge import PrecomputedCaptions
from scanner_hf.visualize import render_html

CAPTION_FILES = {"twitter2015": "BLIP2_15.txt", "twitter2017": "BLIP2_17.txt"}


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


if __name__ == "__main__":
    main()
