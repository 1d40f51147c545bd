"""Cross-dataset generalisation: each Twitter model on the other Twitter set's test split.

SCANNER = scanner_mner.py's cached stage 1 + text-only stage 2 of the training dataset (seed 42);
baseline = the typed-BIO token classifier on the same backbone and budget (baseline_tokcls.py's,
trained once per dataset and cached as ``cache/<dataset>/tokcls``). Both run through their pipelines
on the test texts (entities mapped from character offsets to the gold words, as in pipeline_speed.py);
seen / unseen = the entity string occurs as an entity in the *training* dataset's train split. Both
sets use PER / LOC / ORG / OTHER (Twitter-2015's MISC read as OTHER).

    python benchmarks/cross_dataset.py
"""

from __future__ import annotations

import logging
import tempfile

from common import BENCHMARK_DIR, percent, write_section
from pipeline_speed import char_entities_to_tags
from token_classification import Budget, train_and_score
from transformers import AutoModelForTokenClassification, AutoTokenizer, pipeline

from scanner_hf import (
    ScannerEntityRecognizer,
    ScannerForMultimodalNER,
    ScannerNERPipeline,
    ScannerSpanDetector,
)
from scanner_hf.data import entity_strings, load_benchmark
from scanner_hf.evaluation import entity_scores

DATASETS = ("twitter2017", "twitter2015")


def tokcls(name: str):
    folder = BENCHMARK_DIR / "cache" / name / "tokcls"
    if not (folder / "config.json").exists():
        with tempfile.TemporaryDirectory() as output_dir:
            train_and_score(name, "typed", Budget(), output_dir, save_dir=str(folder))
    classifier = pipeline(
        "token-classification", model=AutoModelForTokenClassification.from_pretrained(folder),
        tokenizer=AutoTokenizer.from_pretrained(folder), aggregation_strategy="first", stride=64,
    )
    return lambda texts: [[{"label": e["entity_group"], "start": e["start"], "end": e["end"]} for e in found] for found in classifier(texts, batch_size=64)]


def scanner(name: str):
    cache = BENCHMARK_DIR / "cache" / name
    model = ScannerForMultimodalNER.from_stages(
        ScannerSpanDetector.from_pretrained(cache / "stage1"), ScannerEntityRecognizer.from_pretrained(cache / "stage2-text"),
        stage1_max_length=128,
    )
    ner = ScannerNERPipeline(model=model, tokenizer=AutoTokenizer.from_pretrained(cache / "stage2-text"), providers=[])
    return lambda texts: [[{"label": e["entity_group"], "start": e["start"], "end": e["end"]} for e in found] for found in ner(texts, batch_size=64)]


def main() -> None:
    logging.basicConfig(level=logging.WARNING)
    data = {name: load_benchmark(name) for name in DATASETS}
    raw, rows = {}, []
    for source in DATASETS:
        seen = entity_strings(data[source]["train"])
        for system, build in (("token classification baseline", tokcls), ("SCANNER (text-only stage 2)", scanner)):
            run = build(source)
            for target in DATASETS:
                test = data[target]["test"]
                names = test.features["ner_tags"].feature.names
                tokens = list(test["tokens"])
                gold = [[names[i] for i in ids] for ids in test["ner_tags"]]
                found = run([" ".join(t) for t in tokens])
                predicted = [char_entities_to_tags(t, entities) for t, entities in zip(tokens, found)]
                scores = entity_scores(gold, predicted, tokens=tokens, seen_entities=seen)
                raw[f"{source}->{target}/{system}"] = scores
                rows.append(
                    f"| {source} | {target} | {system} | {percent(scores['f1'])} | {percent(scores['seen']['f1'])} | "
                    f"{percent(scores['unseen']['f1'])} |"
                )
                print(rows[-1], flush=True)
    body = (
        "MiniLM, seed 42, the CPU budget of scanner_mner.py / baseline_tokcls.py; both systems through their pipelines, "
        "entities mapped from character offsets to the gold words (seqeval strict IOB2). Seen = the entity string is "
        "an entity in the training dataset's train split.\n\n"
        "| trained on | tested on | system | F1 | seen F1 | unseen F1 |\n|---|---|---|---|---|---|\n" + "\n".join(rows)
    )
    write_section("cross_dataset", "Cross-dataset: Twitter-2017 model on Twitter-2015 test and back", body, raw)


if __name__ == "__main__":
    main()
