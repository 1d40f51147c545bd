"""KB coverage of a split's gold entity strings: all / unseen, typed, per source and per type."""

import json

import datasets
import pytest

from scanner_hf.knowledge.coverage import coverage_table, kb_coverage, kb_type_agreement
from scanner_hf.knowledge.kb import EntityKB
from scanner_hf.knowledge.kb_build import build_kb_from_sources

NAMES = ["O", "B-LOC", "I-LOC", "B-ORG", "I-ORG", "B-PER", "I-PER"]


def split(rows):
    features = datasets.Features({"tokens": datasets.Sequence(datasets.Value("string")),
                                  "ner_tags": datasets.Sequence(datasets.ClassLabel(names=NAMES))})
    return datasets.Dataset.from_dict({"tokens": [r[0] for r in rows], "ner_tags": [[NAMES.index(t) for t in r[1]] for r in rows]},
                                      features=features)


def test_coverage_all_unseen_typed_and_per_source(tmp_path):
    first = tmp_path / "first.jsonl"
    first.write_text("\n".join(json.dumps(r) for r in [{"title": "Paris", "types": ["city"]}, {"title": "Steve Kerr"}]))
    second = tmp_path / "second.jsonl"
    second.write_text(json.dumps({"title": "Golden State Warriors", "aliases": ["Warriors"], "types": ["sports team"]}))
    kb = EntityKB(build_kb_from_sources([f"jsonl:{first}", f"jsonl:{second}"], tmp_path / "kb.sqlite"))
    train = split([(["steve", "kerr", "wins"], ["B-PER", "I-PER", "O"])])
    test = split([
        (["steve", "kerr", "and", "the", "warriors"], ["B-PER", "I-PER", "O", "O", "B-ORG"]),
        (["paris", "loves", "zzyzx"], ["B-LOC", "O", "B-PER"]),
        (["paris", "again"], ["B-LOC", "O"]),  # the same string counts once
    ])
    coverage = kb_coverage(kb, test, train)
    merged = coverage["merged"]
    assert merged["all"] == {"strings": 4, "name": 0.75, "typed": 0.5, "fuzzy": 0.75}
    assert merged["unseen"]["strings"] == 3 and merged["unseen"]["name"] == pytest.approx(2 / 3)
    assert coverage[f"jsonl:{first}"]["all"]["name"] == 0.5 and coverage[f"jsonl:{second}"]["all"]["typed"] == 0.25
    assert merged["per_type"]["PER"] == {"strings": 2, "name": 0.5, "typed": 0.0}
    assert "| **merged KB** | 75.0 | 66.7 | 50.0 | 66.7 |" in coverage_table(coverage)


def test_type_agreement_judges_the_entry_the_prompt_leads_with(tmp_path):
    records = tmp_path / "kb.jsonl"
    records.write_text("\n".join(json.dumps(r) for r in [
        {"title": "Watson", "types": ["city"]},                          # a town that shares a surname
        {"title": "Paris", "types": ["city", "film"]},                    # LOC and OTHER: mixed for LOC
        {"title": "Golden State Warriors", "aliases": ["Warriors"], "types": ["sports team"]},
        {"title": "Steve Kerr"},                                         # no type
        {"title": "Kelso", "types": ["musical instrument"]},             # a type the map does not know
    ]))
    kb = EntityKB(build_kb_from_sources([f"jsonl:{records}"], tmp_path / "kb.sqlite"))
    type_map = {"city": "LOC", "sports team": "ORG", "film": "OTHER"}
    test = split([
        (["watson", "scores", "for", "the", "warriors"], ["B-PER", "O", "O", "O", "B-ORG"]),
        (["steve", "kerr", "in", "paris", "with", "kelso", "and", "zzyzx"], ["B-PER", "I-PER", "O", "B-LOC", "O", "B-PER", "O", "B-PER"]),
    ])
    agreement = kb_type_agreement(kb, test, type_map, seen={"warriors"})
    assert agreement["all"]["PER"] == {"agrees": 0, "mixed": 0, "conflicts": 1, "untyped": 2, "no entry": 1}
    assert agreement["all"]["ORG"]["agrees"] == 1 and agreement["all"]["LOC"]["mixed"] == 1
    assert "ORG" not in agreement["unseen"] and agreement["unseen"]["PER"]["conflicts"] == 1
    assert kb_type_agreement(kb, test, type_map)["unseen"] == {}
