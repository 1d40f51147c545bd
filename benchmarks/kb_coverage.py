"""Entity KB coverage on Twitter-2015/2017 test: the share of distinct gold entity strings with a name
match in the KB (no fuzzy search) and with a typed entry, all and unseen (not an entity string of
train), per source and for the merged KB, and per gold type for the merged KB. Uses the merged KB of
scanner_mner.py (built into $SCANNER_HF_CACHE on first use, as a recipe would).

    python benchmarks/kb_coverage.py [--datasets twitter2015 twitter2017]
"""

from __future__ import annotations

import argparse
import logging

from common import percent, write_section
from scanner_mner import merged_kb_sources

from scanner_hf.data import load_benchmark
from scanner_hf.knowledge.coverage import coverage_table, kb_coverage
from scanner_hf.knowledge.factory import kb_path
from scanner_hf.knowledge.kb import EntityKB


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--datasets", nargs="+", default=["twitter2015", "twitter2017"])
    arguments = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    kb = EntityKB(kb_path(merged_kb_sources()))
    raw, parts = {}, []
    for name in arguments.datasets:
        splits = load_benchmark(name)
        coverage = kb_coverage(kb, splits["test"], splits["train"])
        raw[name] = coverage
        merged = coverage["merged"]
        per_type = " ".join(
            f"{label} {percent(values['name'])} / {percent(values['typed'])} ({values['strings']});"
            for label, values in merged["per_type"].items()
        )
        parts.append(
            f"### {name} test: {merged['all']['strings']} distinct gold entity strings, {merged['unseen']['strings']} unseen\n\n"
            + coverage_table(coverage)
            + f"\n\nMerged KB with the fuzzy full-text fallback too: {percent(merged['all']['fuzzy'])} all, "
            f"{percent(merged['unseen']['fuzzy'])} unseen. Per gold type (merged KB, names / typed, strings): {per_type}\n"
        )
    body = (
        f"KB sources, merged in this order: {', '.join(f'`{s}`' for s in kb.sources())}; {len(kb):,} entries, "
        f"{int(kb.meta()['names']):,} names. A string is covered when any of its lookup keys (normalised, camelCase "
        "split, words written together) matches a title, alias/redirect or joined form; *typed* when a matched entry has a type. "
        "Per source: the matched name (or type) came from that source. Shares in %.\n\n" + "\n".join(parts)
    )
    print(body)
    write_section("kb_coverage", "Entity KB: coverage of gold entity strings", body, {"sources": kb.sources(), "coverage": raw})


if __name__ == "__main__":
    main()
