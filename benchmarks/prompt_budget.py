"""Stage 2's prompt cap with rich knowledge: for the Twitter-2017 training candidates (gold entities
of train) with caption + merged KB + PGIM LLM knowledge, how many prompts each cap (128 / 192 / 256
tokens) shortens and what it cuts, the mean prompt length, and the cost of one training step
(forward + backward, batch 16, MiniLM, length-sorted batches as in training) at each cap, measured
side by side in one run.

    python benchmarks/prompt_budget.py [--caps 128 192 256] [--candidates 2048]
"""

from __future__ import annotations

import argparse
import logging
import statistics
import time
from collections import Counter

import torch
from common import write_section
from scanner_mner import CAPTIONS, merged_kb_sources
from transformers import AutoTokenizer

from scanner_hf import ScannerProcessor
from scanner_hf.backbones import resolve_backbone
from scanner_hf.data import default_data_dir, load_benchmark
from scanner_hf.inference import candidate_inputs
from scanner_hf.knowledge.factory import providers_from_settings
from scanner_hf.knowledge.llm import benchmark_llm_knowledge
from scanner_hf.modeling_entity_recognizer import ScannerEntityRecognizer
from scanner_hf.processing_scanner import Stage2Collator
from scanner_hf.training.candidates import gold_candidates

BACKBONE = "sentence-transformers/all-MiniLM-L6-v2"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--caps", nargs="+", type=int, default=[128, 192, 256])
    parser.add_argument("--candidates", type=int, default=2048)
    parser.add_argument("--steps", type=int, default=12)
    arguments = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    splits = load_benchmark("twitter2017")
    train = splits["train"]
    captions = str(default_data_dir() / "knowledge" / "pgim" / "blip2_captions" / CAPTIONS["twitter2017"])
    providers = providers_from_settings({"wikipedia": merged_kb_sources(), "captions": captions})
    providers.insert(1, benchmark_llm_knowledge("twitter2017", splits, default_data_dir()))
    candidates = gold_candidates(train)[: arguments.candidates]
    items = candidate_inputs(train["tokens"], train["image_id"], candidates, providers)
    tokenizer = AutoTokenizer.from_pretrained(resolve_backbone(BACKBONE))
    model = ScannerEntityRecognizer.from_encoder(BACKBONE, tokenizer, entity_types=["LOC", "ORG", "OTHER", "PER"])
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-5)
    rows, raw = [], {}
    for cap in arguments.caps:
        builder = ScannerProcessor(tokenizer, max_prompt_length=cap).prompt_builder(model.config)
        prompts = builder.build(items)
        stats = Counter(builder.stats)
        by_length = sorted(prompts, key=lambda prompt: len(prompt.input_ids))
        lengths = [len(prompt.input_ids) for prompt in by_length]
        collator = Stage2Collator(tokenizer, model.config.max_objects)
        batches = [by_length[i : i + 16] for i in range(0, len(by_length), 16)]
        picked = [batches[int(k * (len(batches) - 1) / max(1, arguments.steps - 1))] for k in range(arguments.steps)]
        start = time.perf_counter()
        for batch_prompts in picked:
            batch = collator([{"input_ids": prompt.input_ids, "labels": 0} for prompt in batch_prompts])
            loss = model(**batch).loss
            loss.backward()
            optimizer.zero_grad()
        step_seconds = (time.perf_counter() - start) / len(picked)
        shortened = stats.pop("prompts_shortened", 0)
        raw[cap] = {"shortened": shortened, "cuts": dict(stats), "mean_length": statistics.mean(lengths), "step_seconds": step_seconds}
        cuts = ", ".join(f"{key} {100 * value / len(prompts):.0f} %" for key, value in sorted(stats.items()))
        rows.append(f"| {cap} | {100 * shortened / len(prompts):.1f} | {statistics.mean(lengths):.0f} | {cuts} | {step_seconds:.3f} |")
    base = raw[arguments.caps[0]]["step_seconds"]
    rows = [row + f" {raw[cap]['step_seconds'] / base:.2f} |" for row, cap in zip(rows, arguments.caps)]
    body = (
        f"{len(items):,} Twitter-2017 training prompts (gold entities) with caption + merged KB + PGIM LLM knowledge; "
        "training-step time = forward + backward of MiniLM on length-sorted batches of 16 spread over the length range, "
        "with a fresh stage-2 model (its weights do not change the cost).\n\n"
        "| cap (tokens) | prompts shortened % | mean length | what was cut (% of prompts) | s / training step | vs first cap |\n"
        "|---|---|---|---|---|---|\n" + "\n".join(rows)
    )
    print(body)
    write_section("prompt_budget", "Stage-2 prompt cap with caption + KB + LLM knowledge", body, raw)


if __name__ == "__main__":
    main()
