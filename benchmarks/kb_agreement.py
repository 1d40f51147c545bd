"""Does the KB's type say the gold type? For each distinct gold entity string of Twitter-2015/2017 test
and train, the first entry the merged KB returns (what stage 2's prompt leads with) is judged by its
types, mapped to the dataset's labels: agrees, mixed (some types right), conflicts, untyped, no entry.
Train shows what stage 2 learns to trust; test, where the KB can mislead it. Run for the merged KB,
the merged KB without GeoNames (and, until scanner-hf 0.2 removed the 'names' source, the merged KB with the census' person names; all built into $SCANNER_HF_CACHE on first use, as a recipe
would; no model is involved).

    python benchmarks/kb_agreement.py [--datasets twitter2015 twitter2017]
"""

from __future__ import annotations

import argparse
import logging

from common import write_section
from scanner_mner import KB_PARTS

from scanner_hf.data import entity_strings, load_benchmark
from scanner_hf.knowledge.coverage import AGREEMENT, kb_type_agreement
from scanner_hf.knowledge.factory import kb_path
from scanner_hf.knowledge.kb import EntityKB

# KB type words -> Twitter labels. Judgement calls: bands ("musical artist") are PER, as the Twitter
# sets mostly tag them; buildings, museums and venues LOC; "website" and "sponsor" are left unmapped.
TYPE_MAP = {
    **dict.fromkeys(["person", "musical artist", "given name", "surname"], "PER"),
    **dict.fromkeys(["city", "country", "road", "building", "museum", "venue"], "LOC"),
    **dict.fromkeys([
        "company", "sports team", "university", "government agency", "newspaper", "sports league",
        "television network", "television channel", "car maker", "video game developer", "brand",
    ], "ORG"),
    **dict.fromkeys([
        "film", "television program", "video game", "product", "recurring event", "award", "festival",
        "holiday", "car model", "video game platform",
    ], "OTHER"),
}
KB_VARIANTS = {"merged KB": KB_PARTS["kb"](), "without GeoNames": KB_PARTS["kb-geonames"]()}  # "with census names": removed in 0.2


def table(rows: list[tuple[str, str, dict, dict]]) -> str:
    """Rows of (KB, gold type, test counts, train counts) as percentages of each row's strings."""
    lines = [
        "| KB | gold type | test strings | " + " | ".join(AGREEMENT) + " | train strings | train agrees | train conflicts |",
        "|---|---|---|" + "---|" * len(AGREEMENT) + "---|---|---|",
    ]
    for kb_name, label, test, train in rows:
        total, train_total = sum(test.values()), sum(train.values())
        shares = " | ".join(f"{100 * test[key] / total:.1f}" for key in AGREEMENT)
        lines.append(
            f"| {kb_name} | {label} | {total} | {shares} | {train_total} | "
            f"{100 * train['agrees'] / train_total:.1f} | {100 * train['conflicts'] / train_total:.1f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--datasets", nargs="+", default=["twitter2015", "twitter2017"])
    arguments = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    kbs = {name: EntityKB(kb_path(sources)) for name, sources in KB_VARIANTS.items()}
    raw: dict = {"type_map": TYPE_MAP}
    parts = []
    for dataset in arguments.datasets:
        splits = load_benchmark(dataset)
        seen = entity_strings(splits["train"])
        rows = []
        raw[dataset] = {}
        for kb_name, kb in kbs.items():
            test = kb_type_agreement(kb, splits["test"], TYPE_MAP, seen)
            train = kb_type_agreement(kb, splits["train"], TYPE_MAP)
            raw[dataset][kb_name] = {"test": test, "train": train["all"]}
            rows += [(kb_name, label, counts, train["all"][label]) for label, counts in test["all"].items()]
        parts.append(f"### {dataset}\n\n{table(rows)}\n")
    body = (
        "Distinct gold entity strings per gold type; the first entry a name lookup returns (no fuzzy search) is "
        "judged by its types mapped to the labels: *agrees* (every mapped type is the gold type), *mixed* (some), "
        "*conflicts* (none), *untyped* (no type the map knows). Shares in % of the row's strings; counts for unseen "
        "strings are in the JSON. Type map (a judgement call): "
        + "; ".join(f"{label}: {', '.join(t for t, l in TYPE_MAP.items() if l == label)}" for label in ("PER", "LOC", "ORG", "OTHER"))
        + ".\n\n" + "\n".join(parts)
    )
    print(body)
    write_section("kb_agreement", "Entity KB: does the type it leads with say the gold type?", body, raw)


if __name__ == "__main__":
    main()
