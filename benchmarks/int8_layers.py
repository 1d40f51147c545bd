"""Which linear layers int8 dynamic quantisation can take without losing accuracy: SCANNER's Twitter-2017
text-only system (scanner_mner.py's cached stage 1 + stage 2, fp32 weights) scored on test with each
choice, side by side in one run: fp32; every linear layer int8 (per-tensor weights, then per-channel);
all but the down-projections (``in_features > out_features``: each feed-forward block's second layer
and the heads; what ``optimize="int8"`` does); all but every ``output.dense``. Time = both stages on the
test split (evaluation included), 2 threads.

    python benchmarks/int8_layers.py
"""

from __future__ import annotations

import time
import warnings

import torch
from common import BENCHMARK_DIR, percent, write_section
from torch.ao.quantization import (
    default_dynamic_qconfig,
    per_channel_dynamic_qconfig,
    quantize_dynamic,
)
from transformers import AutoTokenizer

from scanner_hf import ScannerEntityRecognizer, ScannerProcessor, ScannerSpanDetector
from scanner_hf.data import load_benchmark
from scanner_hf.evaluation.two_stage import evaluate_two_stage
from scanner_hf.optimization import int8_layers

CACHE = BENCHMARK_DIR / "cache" / "twitter2017"


def quantize(model, choose, per_channel: bool):
    qconfig = per_channel_dynamic_qconfig if per_channel else default_dynamic_qconfig
    names = {name for name, module in model.named_modules() if isinstance(module, torch.nn.Linear) and choose(name, module)}
    return quantize_dynamic(model, {name: qconfig for name in names}, dtype=torch.qint8, inplace=True), len(names)


CHOICES = {
    "fp32": None,
    "all linear layers, per-tensor": (lambda name, module: True, False),
    "all linear layers, per-channel": (lambda name, module: True, True),
    "all but down-projections, per-tensor (optimize=\"int8\")": ("shipped", False),
    "all but every output.dense, per-tensor": (lambda name, module: not name.endswith("output.dense"), False),
}


def main() -> None:
    warnings.filterwarnings("ignore")
    torch.set_num_threads(2)
    splits = load_benchmark("twitter2017")
    tokenizer = AutoTokenizer.from_pretrained(CACHE / "stage2-text")
    rows, raw = [], {}
    for label, choice in CHOICES.items():
        detector = ScannerSpanDetector.from_pretrained(CACHE / "stage1").eval()
        recognizer = ScannerEntityRecognizer.from_pretrained(CACHE / "stage2-text").eval()
        quantized = 0
        if choice is not None:
            choose, per_channel = choice
            for model in (detector, recognizer):
                shipped = int8_layers(model)
                rule = (lambda name, module, shipped=shipped: name in shipped) if choose == "shipped" else choose
                quantized += quantize(model, rule, per_channel)[1]
        start = time.perf_counter()
        scores = evaluate_two_stage(detector, tokenizer, recognizer, ScannerProcessor.from_pretrained(CACHE / "stage2-text").prompt_builder(recognizer.config), splits["test"],
                                    train_split=splits["train"], max_length=128)
        seconds = time.perf_counter() - start
        raw[label] = {"f1": scores["f1"], "unseen_f1": scores["unseen"]["f1"], "span_f1": scores["span_f1"], "seconds": seconds, "layers": quantized}
        rows.append(f"| {label} | {quantized} | {percent(scores['f1'])} | {percent(scores['unseen']['f1'])} | {percent(scores['span_f1'])} | {seconds:.1f} |")
        print(rows[-1], flush=True)
    body = ("Twitter-2017 test, SCANNER text-only (MiniLM, seed 42), 2 threads; int8 = PyTorch dynamic quantisation.\n\n"
            "| int8 layers | layers quantised | F1 | unseen F1 | span F1 | s |\n|---|---|---|---|---|---|\n" + "\n".join(rows))
    write_section("int8_layers", "int8: which layers to quantise", body, raw)


if __name__ == "__main__":
    main()
