"""The candidate ceiling on unseen entities: stage 1's proposal threshold and word-shape features.

``--part proposals``: the cached stage 1 of scanner_mner.py (per dataset) proposes spans at each
threshold (``None`` = arg-max decode; see ``scanner_hf.modeling_span_detector.propose_spans``); for each
setting: gold-span recall on test (all / seen / unseen), candidates per sentence, and the final F1 /
unseen F1 / wall time of the whole system with the cached text-only stage 2 (trained on arg-max
non-entity candidates: not yet on the over-proposals) and the setting chosen on the validation split.

``--part shapes``: stage 1 retrained with word-shape embeddings (``word_shapes: true``; same budget and
seed as the cached stage 1) against the cached one: span recall (all / seen / unseen) and the final
F1 with the same cached text-only stage 2.

    python benchmarks/candidate_ceiling.py --part proposals [--datasets twitter2017 twitter2015]
    python benchmarks/candidate_ceiling.py --part shapes [--datasets twitter2017 twitter2015]
"""

from __future__ import annotations

import argparse
import json
import logging
import time

from common import BENCHMARK_DIR, commands_note, merged_commands, percent, write_section
from scanner_mner import RESULTS_FILE, benchmark_trainer
from transformers import set_seed

from scanner_hf.data import entity_strings
from scanner_hf.evaluation.two_stage import CANDIDATE_THRESHOLDS, evaluate_two_stage
from scanner_hf.inference import detect_candidates
from scanner_hf.tags import tags_to_spans
from scanner_hf.training.stages import fit_span_detector, stage_training_arguments

RAW_FILE = BENCHMARK_DIR / "results" / "candidate_ceiling.json"


def proposal_recall(detector, tokenizer, split, seen: set[str], threshold) -> dict:
    """Share of gold spans among the detector's proposals at ``threshold`` (see :func:`span_recall`)."""
    proposed = {(c.sentence_index, c.start, c.end) for c in detect_candidates(detector, tokenizer, split["tokens"], threshold=threshold)}
    return span_recall(split, seen, proposed)


def span_recall(split, seen: set[str], proposed: set[tuple[int, int, int]]) -> dict:
    """Share of gold spans among ``proposed`` (sentence, start, end) spans (all / seen / unseen) and
    proposals per sentence."""
    names = split.features["ner_tags"].feature.names
    found = {"all": [0, 0], "seen": [0, 0], "unseen": [0, 0]}
    for index, (tokens, ids) in enumerate(zip(split["tokens"], split["ner_tags"])):
        for span in tags_to_spans([names[i] for i in ids]):
            part = "seen" if " ".join(tokens[span.start : span.end]) in seen else "unseen"
            hit = (index, span.start, span.end) in proposed
            for key in ("all", part):
                found[key][0] += hit
                found[key][1] += 1
    recall = {key: hits / total if total else 0.0 for key, (hits, total) in found.items()}
    return {**recall, "per_sentence": len(proposed) / len(split)}


def proposals(name: str, settings: dict) -> dict:
    trainer = benchmark_trainer(name, settings)
    model, _, builder = trainer.train_entity_recognizer(trainer.output_dir / "stage2-text")  # the cached text-only stage 2
    splits = {"validation": trainer_validation(name), "test": trainer.test_dataset}
    seen = entity_strings(trainer.train_dataset)
    rows = {}
    for threshold in CANDIDATE_THRESHOLDS:
        recall = proposal_recall(trainer.detector, trainer.detector_tokenizer, splits["test"], seen, threshold)
        scores = {}
        for split_name, split in splits.items():
            start = time.perf_counter()
            scores[split_name] = evaluate_two_stage(
                trainer.detector, trainer.detector_tokenizer, model, builder, split, train_split=trainer.train_dataset,
                max_length=128, candidate_threshold=threshold,
            )
            scores[split_name]["seconds"] = time.perf_counter() - start
        rows[str(threshold)] = {"recall": recall, "test": slim(scores["test"]), "validation_f1": scores["validation"]["f1"]}
        print(name, threshold, rows[str(threshold)], flush=True)
    return rows


def trainer_validation(name: str):
    from scanner_hf.data import load_benchmark

    return load_benchmark(name)["validation"]


def slim(scores: dict) -> dict:
    return {"f1": scores["f1"], "unseen_f1": scores["unseen"]["f1"], "seen_f1": scores["seen"]["f1"], "seconds": scores.get("seconds")}


def shapes(name: str, settings: dict) -> dict:
    trainer = benchmark_trainer(name, settings)
    model, _, builder = trainer.train_entity_recognizer(trainer.output_dir / "stage2-text")
    seen = entity_strings(trainer.train_dataset)
    folder = trainer.output_dir / "stage1-shapes"
    bar_stage1 = trainer.output_dir.with_name(f"{name}-shapes") / "stage1"  # unseen_bar.py's: same data, budget, seed and code
    if not (folder / "model.safetensors").exists() and (bar_stage1 / "model.safetensors").exists():
        folder = bar_stage1  # on Twitter-2017 the two were trained separately and are bit-identical
    if (folder / "model.safetensors").exists():
        from transformers import AutoTokenizer

        from scanner_hf import ScannerSpanDetector

        shaped, tokenizer = ScannerSpanDetector.from_pretrained(folder).eval(), AutoTokenizer.from_pretrained(folder)
        seconds = None
    else:
        start = time.perf_counter()
        set_seed(settings["seed"])
        tokenizer = trainer.tokenizer
        args = stage_training_arguments(str(trainer.output_dir / "checkpoints" / "stage1-shapes"), select_best_on_dev=False,
                                        num_train_epochs=settings["stage1_epochs"], per_device_train_batch_size=16, learning_rate=1e-4,
                                        seed=settings["seed"])
        shaped = ScannerSpanDetector.from_encoder(trainer.model.config.backbone, word_shapes=True)
        shaped.resize_token_embeddings(len(tokenizer), mean_resizing=False)
        shaped.config.encoder_config.vocab_size = len(tokenizer)
        fit_span_detector(shaped, tokenizer, trainer.train_dataset, args, max_length=128)
        seconds = time.perf_counter() - start
        shaped.save_pretrained(folder)
        tokenizer.save_pretrained(folder)
    rows = {}
    for label, detector, detector_tokenizer in (("uncased", trainer.detector, trainer.detector_tokenizer), ("+ word shapes", shaped, tokenizer)):
        recall = proposal_recall(detector, detector_tokenizer, trainer.test_dataset, seen, None)
        scores = evaluate_two_stage(detector, detector_tokenizer, model, builder, trainer.test_dataset, train_split=trainer.train_dataset, max_length=128)
        rows[label] = {"recall": recall, "test": slim(scores)}
        print(name, label, rows[label], flush=True)
    rows["+ word shapes"]["train_seconds"] = seconds
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--part", choices=("proposals", "shapes"), required=True)
    parser.add_argument("--datasets", nargs="*", default=["twitter2017", "twitter2015"], help="none: only rewrite the section")
    arguments = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    settings = json.loads(RESULTS_FILE.read_text())["settings"]
    raw = json.loads(RAW_FILE.read_text()) if RAW_FILE.exists() else {}
    if arguments.datasets:
        raw["commands"] = merged_commands(raw)
    for name in arguments.datasets:
        raw.setdefault(arguments.part, {})[name] = (proposals if arguments.part == "proposals" else shapes)(name, settings)
        RAW_FILE.parent.mkdir(exist_ok=True)
        RAW_FILE.write_text(json.dumps(raw, indent=2))
    lines = []
    for name, rows in raw.get("proposals", {}).items():
        chosen = max(rows, key=lambda t: rows[t]["validation_f1"])
        for threshold, row in rows.items():
            r, t = row["recall"], row["test"]
            mark = " (chosen on dev)" if threshold == chosen else ""
            lines.append(
                f"| {name} | {threshold}{mark} | {percent(r['all'])} | {percent(r['seen'])} | {percent(r['unseen'])} | "
                f"{r['per_sentence']:.2f} | {percent(row['validation_f1'])} | {percent(t['f1'])} | {percent(t['unseen_f1'])} | {t['seconds']:.1f} |"
            )
    shape_lines = []
    for name, rows in raw.get("shapes", {}).items():
        for label, row in rows.items():
            r, t = row["recall"], row["test"]
            shape_lines.append(
                f"| {name} | {label} | {percent(r['all'])} | {percent(r['seen'])} | {percent(r['unseen'])} | "
                f"{percent(t['f1'])} | {percent(t['unseen_f1'])} |"
            )
    if not lines:
        lines = ["| (not run yet) | | | | | | | | | |"]
    if not shape_lines:
        shape_lines = ["| (not run yet) | | | | | | |"]
    body = (
        "Stage 1 = scanner_mner.py's cached MiniLM detector (3 epochs, seed 42); stage 2 = its cached text-only "
        "recogniser, trained on arg-max non-entity candidates (not retrained for over-proposal). Recall = share of "
        "test gold spans among stage 1's proposals (seen = entity string occurs as an entity in train). F1 = the "
        "whole system, seqeval strict IOB2; overlapping accepted spans keep stage 2's most probable. Seconds = "
        "both stages on the test split.\n\n"
        "| dataset | threshold | recall | seen | unseen | proposals / sentence | dev F1 | test F1 | unseen F1 | s |\n"
        "|---|---|---|---|---|---|---|---|---|---|\n" + "\n".join(lines)
        + "\n\nWord shapes (stage 1 retrained with `word_shapes: true`, same budget and seed; arg-max decode; the same "
        "cached text-only stage 2):\n\n| dataset | stage 1 | recall | seen | unseen | test F1 | unseen F1 |\n"
        "|---|---|---|---|---|---|---|\n" + "\n".join(shape_lines)
        + "\n\n" + commands_note(raw.get("commands") or [raw.get("command", "")])
    )
    write_section("candidate_ceiling", "Candidate ceiling: proposal threshold and word shapes (stage 1)", body, raw)


if __name__ == "__main__":
    main()
