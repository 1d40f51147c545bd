"""Training speed on this CPU: fp32 against bf16 mixed precision (the Trainer's ``bf16`` on CPU, i.e.
``stage_training_arguments(..., bf16=True)`` / ``stage1: {bf16: true}`` in a recipe), for both stages, side by side in
one run.

Each stage trains one epoch on the first --sentences Twitter-2017 training sentences (stage 2: their
gold entities as candidates, text-only prompts capped at 128 tokens), batch 16, 2 threads; the time is
the whole call (loading, encoding, training: all but training are the same for both), best of --repeats. Test F1 is not measured here: bf16
only becomes a default candidate where it is faster, and that is what this run decides for this CPU.

    python benchmarks/training_speed.py [--sentences 640] [--repeats 2]
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import time

import torch
from common import cpu_vector_flags, write_section
from transformers import AutoTokenizer

from scanner_hf.backbones import resolve_backbone
from scanner_hf.data import load_benchmark
from scanner_hf.modeling_entity_recognizer import ScannerEntityRecognizer
from scanner_hf.modeling_span_detector import ScannerSpanDetector
from scanner_hf.training.candidates import training_candidates
from scanner_hf.training.stages import (
    fit_entity_recognizer,
    fit_span_detector,
    stage_training_arguments,
)

BACKBONE = "sentence-transformers/all-MiniLM-L6-v2"  # both timings include model loading, as before


def timed(function) -> float:
    start = time.perf_counter()
    function()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sentences", type=int, default=640)
    parser.add_argument("--repeats", type=int, default=2)
    arguments = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    torch.set_num_threads(2)
    train = load_benchmark("twitter2017")["train"].select(range(arguments.sentences))
    candidates = training_candidates(train, None)
    raw = {"sentences": arguments.sentences, "candidates": len(candidates), "cpu_flags": cpu_vector_flags(), "seconds": {}}
    for precision in ("fp32", "bf16", "fp32", "bf16")[: 2 * arguments.repeats]:  # interleaved: drift hits both alike
        with tempfile.TemporaryDirectory() as output_dir:
            args = stage_training_arguments(output_dir, select_best_on_dev=False, num_train_epochs=1, per_device_train_batch_size=16,
                                            learning_rate=1e-4, bf16=precision == "bf16", seed=42)

            def train_stage1(args=args):
                tokenizer = AutoTokenizer.from_pretrained(resolve_backbone(BACKBONE))
                fit_span_detector(ScannerSpanDetector.from_encoder(BACKBONE), tokenizer, train, args, max_length=128)

            def train_stage2(args=args):
                tokenizer = AutoTokenizer.from_pretrained(resolve_backbone(BACKBONE))
                recognizer = ScannerEntityRecognizer.from_encoder(BACKBONE, tokenizer, entity_types=["LOC", "ORG", "OTHER", "PER"], max_prompt_length=128)
                fit_entity_recognizer(recognizer, tokenizer, train, candidates, args)

            stage1, stage2 = timed(train_stage1), timed(train_stage2)
        for name, seconds in (("stage1", stage1), ("stage2", stage2)):
            raw["seconds"].setdefault(f"{name}/{precision}", []).append(seconds)
        print(precision, f"stage 1 {stage1:.1f} s, stage 2 {stage2:.1f} s", flush=True)
    best = {key: min(values) for key, values in raw["seconds"].items()}
    rows = [
        f"| {name} | {best[f'{name}/fp32']:.1f} | {best[f'{name}/bf16']:.1f} | {best[f'{name}/bf16'] / best[f'{name}/fp32']:.2f} |"
        for name in ("stage1", "stage2")
    ]
    body = (
        f"One epoch on the first {arguments.sentences} Twitter-2017 training sentences ({len(candidates)} stage-2 candidates, "
        f"gold only, text-only prompts <= 128 tokens), MiniLM, batch 16, 2 threads; seconds include model loading and "
        f"encoding (the same for both precisions); best of {arguments.repeats}, runs interleaved. CPU vector extensions: "
        f"{', '.join(raw['cpu_flags']) or 'none found'}.\n\n"
        "| stage | fp32 s | bf16 s | bf16 / fp32 |\n|---|---|---|---|\n" + "\n".join(rows)
    )
    write_section("training_speed", "Training speed: fp32 vs bf16 mixed precision", body, raw)


if __name__ == "__main__":
    main()
