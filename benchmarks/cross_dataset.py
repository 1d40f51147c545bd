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

from common import BENCHMARK_DIR, percent, write_section
from pipeline_speed import build_runner, char_entities_to_tags

from scanner_hf.data import entity_strings, load_benchmark
from scanner_hf.evaluation import entity_scores

DATASETS = ("twitter2017", "twitter2015")


def main() -> None:
    logging.basicConfig(level=logging.WARNING)
    data = {name: load_benchmark(name) for name in DATASETS}
    raw, rows = {}, []
    for source in DATASETS:
        seen = entity_strings(data[source]["train"])
        for system, row in (("token classification baseline", "tokcls-fp32"), ("SCANNER (text-only stage 2)", "scanner-fp32")):
            run = build_runner(row, BENCHMARK_DIR / "cache" / source)
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
