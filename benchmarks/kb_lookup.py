"""Wikipedia KB at scale: build time and size for a generated 1,000,000-title KB, and lookup
throughput in sentences per second for the entity candidates of real tweets.

The KB is generated (no 1M-article dump here): titles are random 1-3 word names from a 5,000-word
vocabulary, each with an alias, a description and a two-sentence lead; the gold entity strings of
Twitter-2015/2017 test tweets are added as titles for half of them, so lookups see both hits (title
index) and misses (which fall through to full-text search). Candidates per sentence = its gold
entities (what a good stage 1 proposes). Two timings: batch lookup (``lookup_many`` over all
candidates, each distinct string once) and one ``lookup`` call per candidate with no reuse.

    python benchmarks/kb_lookup.py [--titles 1000000]
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from pathlib import Path

from common import write_section

from scanner_hf.data import load_benchmark
from scanner_hf.knowledge.wikipedia import KBRecord, WikipediaKB, build_kb
from scanner_hf.tags import tags_to_spans


def sentence_candidates() -> list[list[str]]:
    sentences = []
    for name in ("twitter2015", "twitter2017"):
        test = load_benchmark(name)["test"]
        names = test.features["ner_tags"].feature.names
        for tokens, ids in zip(test["tokens"], test["ner_tags"]):
            spans = tags_to_spans([names[i] for i in ids])
            sentences.append([" ".join(tokens[s.start : s.end]) for s in spans])
    return sentences


def generated_records(count: int, real_titles: list[str], seed: int = 0):
    rng = random.Random(seed)
    letters = "abcdefghijklmnopqrstuvwxyz"
    vocabulary = ["".join(rng.choice(letters) for _ in range(rng.randint(3, 9))).capitalize() for _ in range(5000)]
    for title in real_titles:
        yield KBRecord(title=title, description="A real name", text=f"{title} is a name seen in tweets. It is real.")
    for index in range(count - len(real_titles)):
        title = " ".join(rng.choice(vocabulary) for _ in range(rng.randint(1, 3))) + f" {index}"
        yield KBRecord(
            title=title,
            description=f"Generated entry {index}",
            text=f"{title} is a generated entry. It exists to make the index large.",
            aliases=[f"{title} (alias)"],
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--titles", type=int, default=1_000_000)
    arguments = parser.parse_args()
    sentences = sentence_candidates()
    distinct = sorted({c for s in sentences for c in s})
    real = random.Random(1).sample(distinct, len(distinct) // 2)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "kb.sqlite"
        start = time.perf_counter()
        build_kb(generated_records(arguments.titles, real), path, source=f"generated:{arguments.titles}")
        build_seconds = time.perf_counter() - start
        size_mb = path.stat().st_size / 1e6
        kb = WikipediaKB(path)
        flat = [c for s in sentences for c in s]
        start = time.perf_counter()
        answers = kb.lookup_many(flat)
        batch_seconds = time.perf_counter() - start
        fresh = WikipediaKB(path)
        start = time.perf_counter()
        for candidate in flat:
            fresh.lookup(candidate)
        single_seconds = time.perf_counter() - start
    hits = sum(a is not None for a in answers)
    body = (
        f"Generated KB of {arguments.titles:,} titles (+1 alias each); {len(sentences):,} test tweets of Twitter-2015/2017 "
        f"with {len(flat):,} gold candidates ({len(distinct):,} distinct, half of them inserted as titles; "
        f"{hits / len(flat):.0%} of lookups found an entry).\n\n"
        "| measure | value |\n|---|---|\n"
        f"| build time | {build_seconds:.0f} s |\n| KB file size | {size_mb:.0f} MB |\n"
        f"| batch lookup (`lookup_many`) | {len(sentences) / batch_seconds:,.0f} sentences/s ({len(flat) / batch_seconds:,.0f} candidates/s) |\n"
        f"| one `lookup` per candidate, no reuse | {len(sentences) / single_seconds:,.0f} sentences/s ({len(flat) / single_seconds:,.0f} candidates/s) |\n"
        f"| batch / per-candidate speed ratio (same run) | {single_seconds / batch_seconds:.2f} |\n\n"
        "Goal: >= 13,000 sentences/s with a KB of >= 1M titles (the paper reports 1,300 sentences/s for SCANNER on a GPU)."
    )
    print(body)
    write_section("kb_lookup", "Wikipedia KB: build and lookup at 1M titles", body, {
        "titles": arguments.titles, "build_seconds": build_seconds, "size_mb": size_mb, "sentences": len(sentences),
        "candidates": len(flat), "batch_seconds": batch_seconds, "single_seconds": single_seconds, "hits": hits,
    })


if __name__ == "__main__":
    main()
