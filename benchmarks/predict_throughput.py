"""Throughput of ``scanner-ner predict --input ... --output ...`` on 1 process and on 2 processes
(``accelerate launch --num_processes 2``, CPU), side by side in one run: Twitter-2017 test texts
(repeated --copies times) through the Twitter-2017 text-only checkpoint (scanner_mner.py's cache
saved as one composite folder). Wall time includes start-up and model loading of every process.

    python benchmarks/predict_throughput.py [--copies 3]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

from common import BENCHMARK_DIR, write_section
from transformers import AutoTokenizer

from scanner_hf import (
    ScannerEntityRecognizer,
    ScannerForMultimodalNER,
    ScannerNERPipeline,
    ScannerSpanDetector,
)
from scanner_hf.data import load_benchmark

CACHE = BENCHMARK_DIR / "cache" / "twitter2017"


def composite_folder():
    folder = CACHE / "composite-text"
    if not (folder / "model.safetensors").exists():
        model = ScannerForMultimodalNER.from_stages(
            ScannerSpanDetector.from_pretrained(CACHE / "stage1"), ScannerEntityRecognizer.from_pretrained(CACHE / "stage2-text"),
            stage1_max_length=128,
        )
        ScannerNERPipeline(model=model, tokenizer=AutoTokenizer.from_pretrained(CACHE / "stage2-text"), providers=[]).save_pretrained(folder)
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--copies", type=int, default=3)
    parser.add_argument("--render", action="store_true", help="rewrite the RESULTS.md section from the recorded run and outputs")
    arguments = parser.parse_args()
    if arguments.render:
        raw = json.loads((BENCHMARK_DIR / "results" / "predict_throughput.json").read_text())
        write_results(raw, arguments.copies)
        return
    folder = composite_folder()
    texts = [" ".join(tokens) for tokens in load_benchmark("twitter2017")["test"]["tokens"]] * arguments.copies
    source = CACHE / "throughput_input.jsonl"
    source.write_text("\n".join(json.dumps({"id": i, "text": t}) for i, t in enumerate(texts)))
    predict = ["-m", "scanner_hf.cli", "predict", "--input", str(source), "--model", str(folder), "--batch-size", "64"]
    launch = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
              "--mixed_precision", "no", "--dynamo_backend", "no"]
    runs = {
        "1 process, 2 threads": [sys.executable, *predict, "--output", str(CACHE / "out1.jsonl")],
        "2 processes (accelerate launch), 1 thread each": [*launch, *predict, "--output", str(CACHE / "out2.jsonl")],
    }
    env = {**os.environ, "ACCELERATE_USE_CPU": "1"}
    env.pop("OMP_NUM_THREADS", None)
    raw = {"texts": len(texts), "seconds": {}, "measured_by": "python " + " ".join(sys.argv),
           "measured_at": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
    for label, command in runs.items():
        start = time.perf_counter()
        completed = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
        seconds = time.perf_counter() - start
        if completed.returncode != 0:
            raise SystemExit(completed.stderr[-2000:])
        raw["seconds"][label] = seconds
        print(label, f"{seconds:.1f} s", flush=True)
    write_results(raw, arguments.copies)


def compare_outputs() -> dict:
    """Same inputs in the same order, same entities (type and offsets); scores may differ in the last
    float digits (other batches, other padding)."""
    first, second = ([json.loads(line) for line in (CACHE / name).read_text().splitlines()] for name in ("out1.jsonl", "out2.jsonl"))

    def spans(row):
        return [(e["entity_group"], e["start"], e["end"]) for e in row["entities"]]

    return {
        "same_order": [r["id"] for r in first] == [r["id"] for r in second],
        "entity_differences": sum(spans(a) != spans(b) for a, b in zip(first, second)),
        "max_score_difference": max(
            (abs(x["score"] - y["score"]) for a, b in zip(first, second) if spans(a) == spans(b) for x, y in zip(a["entities"], b["entities"])),
            default=0.0,
        ),
    }


def write_results(raw: dict, copies: int) -> None:
    raw["comparison"] = comparison = compare_outputs()
    texts = raw["texts"]
    rows = [f"| {label} | {seconds:.1f} | {texts / seconds:.1f} |" for label, seconds in raw["seconds"].items()]
    body = (
        f"Measured by `{raw['measured_by']}` at {raw['measured_at']}. "
        f"{texts} texts (Twitter-2017 test x {copies}), Twitter-2017 text-only checkpoint, batch 64; wall time "
        "including start-up. Threads per process: this process's share of the CPUs (configure_threads).\n\n"
        "| run | seconds | texts/s |\n|---|---|---|\n" + "\n".join(rows)
        + f"\n\nBoth outputs in input order: {comparison['same_order']}; texts whose entities (type, offsets) differ: "
        f"{comparison['entity_differences']}; largest score difference: {comparison['max_score_difference']:.1e} "
        "(other batches, other padding)."
    )
    write_section("predict_throughput", "scanner-ner predict: 1 vs 2 processes", body, raw)


if __name__ == "__main__":
    main()
