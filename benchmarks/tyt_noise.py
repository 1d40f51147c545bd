"""Trust Your Teacher under label noise (the paper's Fig. 5 / Table 3 setting, on our backbone).

Random type noise (a gold type swapped for another type, seeded) is injected into Twitter-2017's
stage-2 training candidates at each noise level; stage 2 is trained with plain CE ("none", which is
also the teacher), "Half" (fixed alpha 0.5), "Full" (fixed alpha 0: the teacher's distribution only;
with alpha weighting CE, "fixed 1.0" would be plain CE again) and TYT, each from the same cached
teacher logits. Scores are on the clean test split through both stages (stage 1 and the cross-fold
non-entity spans come from scanner_mner.py's cache). Wall time of each run is relative to "none" in
the same run; teacher-logit caching is timed separately.

    python benchmarks/tyt_noise.py [--noise 0 0.1 0.2] [--epochs 2]
"""

from __future__ import annotations

import argparse
import logging
import random
import tempfile
import time

from common import percent, write_section
from scanner_mner import FOLD_EPOCHS, STAGE1_EPOCHS, benchmark_trainer, stage

from scanner_hf import ScannerProcessor
from scanner_hf.configuration import NON_ENTITY
from scanner_hf.evaluation.two_stage import evaluate_two_stage
from scanner_hf.processing_scanner import Stage2Collator
from scanner_hf.training.candidates import training_candidates
from scanner_hf.training.distillation import add_teacher_logits
from scanner_hf.training.stage2_data import encode_candidates
from scanner_hf.training.stages import Distillation, fit, stage_training_arguments

TYPES = ["LOC", "ORG", "OTHER", "PER"]
MODES = [("none", "none", None), ("Half", "fixed", 0.5), ("Full", "fixed", 0.0), ("TYT", "tyt", None)]


def add_type_noise(candidates, rate: float, seed: int):
    """Swap each entity candidate's type for another type with probability ``rate``."""
    rng = random.Random(seed)
    flipped = 0
    for candidate in candidates:
        if candidate.label != NON_ENTITY and rng.random() < rate:
            candidate.label = rng.choice([t for t in TYPES if t != candidate.label])
            flipped += 1
    return flipped


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--noise", nargs="+", type=float, default=[0.0, 0.1, 0.2])
    parser.add_argument("--epochs", type=float, default=2)
    parser.add_argument("--seed", type=int, default=42)
    arguments = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    from transformers import AutoTokenizer, set_seed

    from scanner_hf.backbones import resolve_backbone
    from scanner_hf.modeling_entity_recognizer import ScannerEntityRecognizer

    stage2 = stage(arguments.epochs)
    # the same stage 1 and cross-fold spans as scanner_mner.py (shared cache, same settings)
    settings = {"seed": arguments.seed, "stage1_epochs": STAGE1_EPOCHS, "fold_epochs": FOLD_EPOCHS, "stage2_epochs": arguments.epochs}
    trainer = benchmark_trainer("twitter2017", settings)
    train, test = trainer.train_dataset, trainer.test_dataset
    detector, detector_tokenizer, fold_spans = trainer.detector, trainer.detector_tokenizer, trainer.non_entity_spans()
    source = resolve_backbone(trainer.model.config.backbone)
    rows, raw = [], {"settings": vars(arguments), "results": {}}
    for rate in arguments.noise:
        candidates = training_candidates(train, fold_spans)
        flipped = add_type_noise(candidates, rate, arguments.seed)
        timings, teacher = {}, None
        for name, mode, alpha in MODES:
            set_seed(arguments.seed)
            tokenizer = AutoTokenizer.from_pretrained(source)
            model = ScannerEntityRecognizer.from_encoder(source, tokenizer, entity_types=TYPES)
            builder = ScannerProcessor(tokenizer, max_prompt_length=96).prompt_builder(model.config)
            dataset = encode_candidates(train, candidates, builder, model.config.label2id)
            collator = Stage2Collator(tokenizer, model.config.max_objects)
            if mode != "none" and "teacher_logits" not in timings:
                start = time.perf_counter()
                cached = add_teacher_logits(teacher, dataset, collator)  # once per noise level
                timings["teacher_logits"] = time.perf_counter() - start  # also marks the cache as built
            with tempfile.TemporaryDirectory() as output_dir:
                args = stage_training_arguments(output_dir, select_best_on_dev=False, **stage2, seed=arguments.seed,
                                                disable_tqdm=True, logging_steps=10_000)
                start = time.perf_counter()
                if mode == "none":
                    fit(model, tokenizer, args, dataset, collator)
                else:  # the cached-logits fast path: the teacher's logits were computed once above
                    fit(model, tokenizer, args, cached, collator, distillation=Distillation(None, mode, alpha or 0.0))
                timings[name] = time.perf_counter() - start
            model.eval()
            if mode == "none":
                teacher = model
            scores = evaluate_two_stage(detector, detector_tokenizer, model, builder, test, train_split=train)
            raw["results"][f"{rate}/{name}"] = {**scores, "seconds": timings[name], "flipped": flipped}
            ratio = timings[name] / timings["none"]
            rows.append(
                f"| {rate:.0%} | {name} | {percent(scores['precision'])} | {percent(scores['recall'])} | "
                f"{percent(scores['f1'])} | {percent(scores['unseen']['f1'])} | {ratio:.2f} |"
            )
            print(rows[-1], flush=True)
            body = (
                f"Twitter-2017 stage 2 (text-only prompts, max 96 tokens), MiniLM, {arguments.epochs:g} epochs, batch 16, "
                f"lr 1e-4, seed {arguments.seed}; stage 1 and non-entity spans shared (from scanner_mner's cache). "
                "Noise: each entity candidate's type swapped for a random other type with the given probability. "
                "Clean test split, both stages. Time: training wall time relative to `none` at the same noise level "
                "(distilled runs read cached teacher logits; computing them once took "
                f"{timings.get('teacher_logits', 0):.0f} s at the last level).\n\n"
                "| noise | training | P | R | F1 | unseen F1 | time vs none |\n|---|---|---|---|---|---|---|\n" + "\n".join(rows)
            )
            write_section("tyt_noise", "Trust Your Teacher under label noise (Twitter-2017, stage 2)", body, raw)


if __name__ == "__main__":
    main()
