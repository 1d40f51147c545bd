"""What a KB match before stage 1 does, by the type of its KB entry (issue 33): for a checkpoint trained
with ``kb_features``, every span of a test split that the entity KB matches (the longest match, as stage 1
reads it) is sorted by what it is in the gold data: an entity of the type the KB entry's bucket says, an
entity of another type, a span overlapping an entity with other boundaries, or no entity at all. For each
kind and bucket it counts what the system predicts on that span, with the KB as the checkpoint runs, and
with the same checkpoint's stage 1 blind to the KB (stage 2 still reads it). The difference is what the
KB features did on those spans: right matches should gain correct entities; wrong ones may cost false
positives or wrong types.

    python benchmarks/kb_match_cost.py --datasets twitter2017 [--seed 42]

It reads the models of default_system.py --stage1-knowledge (benchmarks/cache/default-<dataset>-knowledge-seed-<n>).
"""

from __future__ import annotations

import argparse
import json
import logging
from collections import Counter
from pathlib import Path

from common import BENCHMARK_DIR, commands_note, merged_commands, write_section
from default_system import CONFIGS, PRESETS
from stage1_knowledge import HiddenFromStage1

from scanner_hf import ScannerForMultimodalNER
from scanner_hf.data import load_benchmark
from scanner_hf.inference import kb_matches_for, predict_entities
from scanner_hf.knowledge.kb import KBKnowledge
from scanner_hf.tags import tags_to_spans
from scanner_hf.training.recipe import knowledge_providers, load_recipe

RAW_FILE = BENCHMARK_DIR / "results" / "kb_match_cost.json"
BUCKET_TYPES = {"person": {"PER"}, "location": {"LOC"}, "organisation": {"ORG"}, "other": {"OTHER", "MISC"}, "untyped": set()}
KINDS = ("entity, type agrees", "entity, other type", "overlaps an entity", "no entity")


def kind_of(match: tuple[int, int, str], gold: dict[tuple[int, int], str]) -> str:
    start, end, bucket = match
    if (start, end) in gold:
        return KINDS[0] if gold[(start, end)] in BUCKET_TYPES[bucket] else KINDS[1]
    if any(s < end and start < e for s, e in gold):
        return KINDS[2]
    return KINDS[3]


def outcome(match: tuple[int, int, str], gold: dict[tuple[int, int], str], predicted: dict[tuple[int, int], str]) -> str:
    """What the system made of the matched span: ``correct`` (the gold entity, right type), ``wrong type``,
    ``false positive`` (an entity where gold has none), ``missed`` (gold entity, nothing predicted), or
    ``rejected`` (no entity in gold, none predicted)."""
    span = match[:2]
    if span in gold:
        return "correct" if predicted.get(span) == gold[span] else "wrong type" if span in predicted else "missed"
    return "false positive" if span in predicted else "rejected"


def analyse(dataset: str, seed: int) -> dict:
    folder = BENCHMARK_DIR / "cache" / f"default-{dataset}-knowledge-seed-{seed}" / "scanner"
    model = ScannerForMultimodalNER.from_pretrained(folder).eval()
    recipe = load_recipe(CONFIGS / PRESETS[dataset])
    providers = knowledge_providers(recipe.knowledge, recipe)
    split = load_benchmark(dataset)["test"]
    names = split.features["ner_tags"].feature.names
    tokens = split["tokens"]
    golds = [{(s.start, s.end): s.label for s in tags_to_spans([names[i] for i in ids])} for ids in split["ner_tags"]]
    matches = kb_matches_for(tokens, providers, model.span_detector.config.kb_common_words)
    blind = [HiddenFromStage1(p) if isinstance(p, KBKnowledge) else p for p in providers]
    systems = {}
    for label, system_providers in (("with the KB", providers), ("stage 1 blind to the KB", blind)):
        found = predict_entities(
            model.span_detector, model.tokenizer, model.entity_recognizer, model.processor.prompt_builder(model.entity_recognizer.config),
            tokens, split["image_id"], system_providers, max_length=model.processor.stage1_max_length,
            candidate_threshold=model.config.candidate_threshold, kb_candidates=model.config.kb_candidates,
        )
        systems[label] = [{(e.start, e.end): e.label for e in row} for row in found]
    counts: dict[str, Counter] = {}
    for index, sentence_matches in enumerate(matches):
        for match in sentence_matches.spans if sentence_matches is not None else ():
            key = f"{match[2]}/{kind_of(match, golds[index])}"
            counter = counts.setdefault(key, Counter())
            counter["matches"] += 1
            for label, predicted in systems.items():
                counter[f"{label}/{outcome(match, golds[index], predicted[index])}"] += 1
    return {"counts": {key: dict(counter) for key, counter in counts.items()}, "model": str(folder.relative_to(BENCHMARK_DIR)),
            "kb_candidates_at_inference": model.config.kb_candidates, "candidate_threshold": model.config.candidate_threshold}


def table(raw: dict) -> str:
    lines = []
    for run_key, result in raw["results"].items():
        for key in sorted(result["counts"], key=lambda k: (k.split("/")[0], KINDS.index(k.split("/")[1]))):
            counter = result["counts"][key]
            bucket, kind = key.split("/")

            def both(outcome_name: str) -> str:
                with_kb, blind = counter.get(f"with the KB/{outcome_name}", 0), counter.get(f"stage 1 blind to the KB/{outcome_name}", 0)
                return f"{with_kb} ({with_kb - blind:+d})"

            if kind in KINDS[:2]:
                cells = f"{both('correct')} | {both('wrong type')} | {both('missed')} | |"
            else:
                cells = f"| | | {both('false positive')} | {both('rejected')}"
            lines.append(f"| {run_key} | {bucket} | {kind} | {counter['matches']} | {cells} |")
    return "\n".join(lines)


def write(raw: dict) -> None:
    body = (
        "Every span of the test split that the merged KB matches before stage 1 (the longest match, as stage 1 reads it; common "
        "words excluded as the checkpoint saved them), by its KB entry's type bucket and what it is in gold: an entity of the "
        "bucket's type (person: PER, location: LOC, organisation: ORG, other: OTHER/MISC; untyped entries agree with none), an "
        "entity of another type, a span overlapping an entity with other boundaries, or no entity. Counts are what the `*-cpu` "
        "preset + stage-1 knowledge checkpoint (default_system.py --stage1-knowledge) predicts on exactly that span; in brackets "
        "the change against the same checkpoint with its stage 1 blind to the KB (stage 2 still reads it), i.e. what the KB "
        "features did there.\n\n"
        "| run | bucket | match is | matches | correct entity | wrong type | missed | false positive | rightly no entity |\n"
        "|---|---|---|---|---|---|---|---|---|\n" + table(raw) + "\n\n" + commands_note(raw["commands"])
    )
    write_section("kb_match_cost", "Stage-1 knowledge: what a KB match does, by type", body, raw)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", nargs="*", default=["twitter2017"], choices=sorted(PRESETS))
    parser.add_argument("--seed", type=int, default=42)
    arguments = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    previous = json.loads(RAW_FILE.read_text()) if RAW_FILE.exists() else {}
    raw = {"results": previous.get("results", {}), "commands": merged_commands(previous, ran=bool(arguments.datasets))}
    for dataset in arguments.datasets:
        raw["results"][f"{dataset} seed {arguments.seed}"] = analyse(dataset, arguments.seed)
        write(raw)
    write(raw)


if __name__ == "__main__":
    main()
