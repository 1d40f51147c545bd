"""Speed of pipeline("scanner-ner") on Twitter-2017 test (MiniLM), measured side by side in one run:

- the pipeline's wall time on all test tweets (text-only, and with BLIP-2 captions),
- the bare forward passes of the two stages on the same inputs (inputs prepared outside the timer:
  stage-1 batches of the words, stage-2 batches of the same candidates' prompts, sorted by length),
- pipeline("token-classification") on the same backbone (a MiniLM token classifier) on the same texts.

Models come from scanner_mner.py's cache (stage 1 + stage 2 of Twitter-2017). Each timing is the best
of --repeats runs.

    python benchmarks/pipeline_speed.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import time

import torch
from common import BENCHMARK_DIR, write_section
from transformers import AutoModelForTokenClassification, AutoTokenizer, pipeline

from scanner_hf import (
    ScannerEntityRecognizer,
    ScannerForMultimodalNER,
    ScannerNERPipeline,
    ScannerSpanDetector,
)
from scanner_hf.backbones import resolve_backbone
from scanner_hf.data import default_data_dir, load_benchmark
from scanner_hf.inference import Stage2Collator, candidate_inputs, detect_candidates
from scanner_hf.knowledge import PrecomputedCaptions
from scanner_hf.tokenization import split_words


def best_of(repeats: int, function) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return min(times)


def bare_forward_timer(model: ScannerForMultimodalNER, tokenizer, texts, given, batch_size=64):
    """Prepare exactly the pipeline's stage inputs, then return a function that only runs forwards."""
    words = [[w.text for w in split_words(text)] for text in texts]
    candidates = detect_candidates(model.span_detector, tokenizer, words, batch_size=batch_size)
    items = candidate_inputs(words, [None] * len(words), candidates, given=given)
    builder = model.entity_recognizer.prompt_builder(tokenizer)
    prompts = builder.build(items)
    order = sorted(range(len(prompts)), key=lambda i: len(prompts[i].input_ids))
    collator = Stage2Collator(tokenizer, model.entity_recognizer.config.max_objects)
    stage2_batches = [
        collator([{"input_ids": prompts[i].input_ids} for i in order[o : o + batch_size]]) for o in range(0, len(order), batch_size)
    ]
    stage1_batches = [
        tokenizer(words[o : o + batch_size], is_split_into_words=True, padding=True, return_tensors="pt")
        for o in range(0, len(words), batch_size)
    ]

    @torch.no_grad()
    def run():
        for batch in stage1_batches:
            model.span_detector(**batch)
        for batch in stage2_batches:
            model.entity_recognizer(**batch)

    return run, len(candidates)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=3)
    arguments = parser.parse_args()
    cache = BENCHMARK_DIR / "cache" / "twitter2017"
    test = load_benchmark("twitter2017")["test"]
    texts = [" ".join(tokens) for tokens in test["tokens"]]
    captions = PrecomputedCaptions.from_file(default_data_dir() / "knowledge" / "pgim" / "blip2_captions" / "BLIP2_17.txt").captions
    rows, raw = [], {"tweets": len(texts), "repeats": arguments.repeats}
    for variant in ("text", "caption"):
        tokenizer = AutoTokenizer.from_pretrained(cache / f"stage2-{variant}")
        model = ScannerForMultimodalNER.from_stages(
            ScannerSpanDetector.from_pretrained(cache / "stage1"), ScannerEntityRecognizer.from_pretrained(cache / f"stage2-{variant}")
        )
        ner = ScannerNERPipeline(model=model, tokenizer=tokenizer)
        inputs = [{"text": t, "caption": captions.get(i)} if variant == "caption" else t for t, i in zip(texts, test["image_id"])]
        given = None
        if variant == "caption":
            from scanner_hf.providers import Knowledge

            given = [Knowledge(caption=captions.get(i)) for i in test["image_id"]]
        ner(inputs[:8])  # warm-up
        pipeline_seconds = best_of(arguments.repeats, lambda ner=ner, inputs=inputs: ner(inputs))
        forward, candidates = bare_forward_timer(model, tokenizer, texts, given)
        forward()
        forward_seconds = best_of(arguments.repeats, forward)
        raw[variant] = {"pipeline": pipeline_seconds, "forward": forward_seconds, "candidates": candidates}
        rows.append(
            f"| {variant} | {pipeline_seconds:.2f} | {forward_seconds:.2f} | {pipeline_seconds / forward_seconds:.2f} | "
            f"{len(texts) / pipeline_seconds:.0f} | {candidates} |"
        )
        print(rows[-1], flush=True)
    source = resolve_backbone("sentence-transformers/all-MiniLM-L6-v2")
    classifier = pipeline(
        "token-classification",
        model=AutoModelForTokenClassification.from_pretrained(source, num_labels=9),
        tokenizer=AutoTokenizer.from_pretrained(source),
        aggregation_strategy="simple",
    )
    classifier(texts[:8])
    token_seconds = best_of(arguments.repeats, lambda: classifier(texts, batch_size=64))
    raw["token_classification"] = token_seconds
    body = (
        f"Twitter-2017 test, {len(texts)} tweets, MiniLM for both stages, batch 64, 2 CPU threads; best of "
        f"{arguments.repeats}. `forward` = the two stages' bare forward passes on the same, pre-built inputs "
        "(stage-1 word batches; stage-2 prompts of the same candidates, sorted by length).\n\n"
        "| input | pipeline s | bare forward s | pipeline / forward | tweets/s | candidates |\n|---|---|---|---|---|---|\n"
        + "\n".join(rows)
        + f"\n\n`pipeline(\"token-classification\")` (MiniLM, aggregation simple, batch 64) on the same texts: "
        f"{token_seconds:.2f} s; scanner-ner (text-only) / token-classification = "
        f"{raw['text']['pipeline'] / token_seconds:.2f}. Goal: pipeline / forward <= 1.15."
    )
    write_section("pipeline_speed", "pipeline(\"scanner-ner\") speed", body, raw)


if __name__ == "__main__":
    main()
