"""Load time of ``pipeline("scanner-ner", optimize=...)`` for the ONNX paths: the first load of a model
exports both encoders (and quantises them for ``onnx-int8``); later loads read the graphs kept in
``$SCANNER_HF_CACHE/onnx``. Side by side in one run: fp32 (no export), each ONNX mode with an empty
graph cache (a fresh folder per round), then again with the cache filled; best of three rounds each.

The composite is SCANNER on the packaged MiniLM backbone with untrained heads, saved to a folder: a
load costs the same for trained weights (the graphs do not depend on the values, only their size).

    python benchmarks/onnx_load.py
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from common import write_section
from transformers import AutoTokenizer, pipeline

import scanner_hf  # noqa: F401  registers the pipeline
from scanner_hf import (
    ScannerEntityRecognizer,
    ScannerForMultimodalNER,
    ScannerNERPipeline,
    ScannerSpanDetector,
)
from scanner_hf.backbones import resolve_backbone

BACKBONE = "sentence-transformers/all-MiniLM-L6-v2"
MODES = ("onnx", "onnx-int8")


def save_composite(folder: Path) -> None:
    tokenizer = AutoTokenizer.from_pretrained(resolve_backbone(BACKBONE))
    recognizer = ScannerEntityRecognizer.from_encoder(BACKBONE, tokenizer)
    model = ScannerForMultimodalNER.from_stages(ScannerSpanDetector.from_encoder(BACKBONE), recognizer)
    ScannerNERPipeline(model=model, tokenizer=tokenizer).save_pretrained(folder)


def load_seconds(folder: Path, mode: str) -> float:
    start = time.perf_counter()
    ner = pipeline("scanner-ner", model=str(folder), optimize=mode)
    ner("Steve Kerr praises the Warriors")  # the first call runs the sessions once
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=3)
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory() as work:
        folder = Path(work) / "scanner"
        save_composite(folder)
        best = {}
        for round_index in range(arguments.rounds):
            os.environ["SCANNER_HF_CACHE"] = str(Path(work) / f"cache-{round_index}")  # empty: the first load exports
            timings = {"none": load_seconds(folder, "none")}
            for mode in MODES:
                timings[f"{mode} first"] = load_seconds(folder, mode)
                timings[f"{mode} cached"] = load_seconds(folder, mode)
            for name, seconds in timings.items():
                best[name] = min(best.get(name, float("inf")), seconds)
        graph_mb = {path.name: path.stat().st_size / 1e6 for path in (Path(work) / "cache-0" / "onnx").glob("*.onnx")}
    rows = "\n".join(
        f"| {mode} | {best[f'{mode} first']:.1f} s | {best[f'{mode} cached']:.1f} s | "
        f"{best[f'{mode} first'] / best[f'{mode} cached']:.1f}x |" for mode in MODES
    )
    body = (
        f"SCANNER on `{BACKBONE}` (both stages), saved to a folder, loaded with `pipeline(\"scanner-ner\", optimize=...)` "
        f"and run on one text; best of {arguments.rounds} rounds, each with an empty graph cache. fp32 (`none`, nothing "
        f"exported): {best['none']:.1f} s. Graphs kept: {len(graph_mb)} files, {sum(graph_mb.values()):.0f} MB.\n\n"
        "| mode | first load (export) | later load (cached graphs) | speed-up |\n|---|---|---|---|\n" + rows
    )
    print(body)
    write_section("onnx_load", "ONNX paths: load time with and without the graph cache", body, {"seconds": best, "graph_mb": graph_mb})


if __name__ == "__main__":
    main()
