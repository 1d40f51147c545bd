"""The SQLite Wikipedia KB: sources, idempotent builds, lookup order, safety and bad inputs."""

import gzip
import json

import pytest

from scanner_hf.knowledge.wikipedia import (
    KBRecord,
    KnowledgeBaseError,
    WikipediaKB,
    WikipediaKnowledge,
    build_kb,
    normalise,
    records_for_source,
    records_from_abstracts,
    summary,
)
from scanner_hf.providers import KnowledgeRequest

RECORDS = [
    {"title": "Steve Kerr", "description": "American basketball coach", "text": "Stephen Douglas Kerr is an American basketball coach. He coaches the Warriors. He was born in Beirut.", "aliases": ["Stephen Kerr"]},
    {"title": "Golden State Warriors", "description": "NBA team", "text": "The Golden State Warriors are a professional basketball team based in San Francisco.", "aliases": ["Warriors", "Dubs"]},
    {"title": "Paris", "description": "Capital of France", "text": "Paris is the capital of France."},
    {"title": "Paris Hilton", "description": "American media personality", "text": "Paris Hilton is an American media personality."},
]


@pytest.fixture()
def kb_path(tmp_path):
    source = tmp_path / "kb.jsonl"
    source.write_text("\n".join(json.dumps(record) for record in RECORDS))
    return build_kb(records_for_source(f"jsonl:{source}"), tmp_path / "kb.sqlite", source=str(source))


def test_lookup_title_alias_then_fuzzy(kb_path):
    kb = WikipediaKB(kb_path, max_chars=200)
    assert kb.find("steve KERR")[0] == "Steve Kerr"
    assert kb.find("#Dubs")[0] == "Golden State Warriors"  # alias
    assert kb.find("Warriors Golden State")[0] == "Golden State Warriors"  # FTS: any order
    assert kb.find("Paris")[0] == "Paris"  # exact title beats the longer FTS match
    assert kb.find("Hilton")[0] == "Paris Hilton"
    assert kb.lookup("nothing like it") is None and kb.lookup("!!!") is None
    assert kb.lookup("Steve Kerr").startswith("American basketball coach. Stephen Douglas Kerr")
    assert len(kb) == 4 and kb.lookup_many(["Paris", "Paris", "x"])[0] == kb.lookup("Paris")


def test_queries_with_quotes_and_fts_syntax_are_safe(kb_path):
    kb = WikipediaKB(kb_path)
    for hostile in ['Steve "Kerr', "Paris' OR 1=1 --", "title:* NEAR(x y)", 'a"); DROP TABLE entries; --']:
        kb.lookup(hostile)  # no error, no injection
    assert len(kb) == 4


def test_build_is_idempotent_and_atomic(kb_path, tmp_path):
    before = kb_path.stat().st_mtime_ns
    source = tmp_path / "kb.jsonl"
    build_kb(records_for_source(f"jsonl:{source}"), kb_path, source=str(source))
    assert kb_path.stat().st_mtime_ns == before  # up to date: not rebuilt
    build_kb(records_for_source(f"jsonl:{source}"), kb_path, source=str(source), force=True)
    assert len(WikipediaKB(kb_path)) == 4 and not (tmp_path / "kb.sqlite.building").exists()


def test_abstract_dump_is_streamed(tmp_path):
    dump = tmp_path / "enwiki-latest-abstract.xml.gz"
    with gzip.open(dump, "wt", encoding="utf-8") as handle:
        handle.write(
            "<feed><doc><title>Wikipedia: Kroger</title><url>u</url><abstract>The Kroger Company is an American retail company.</abstract>"
            "<links><sublink><anchor>x</anchor></sublink></links></doc>"
            "<doc><title>Wikipedia: NBA</title><abstract>The National Basketball Association.</abstract></doc></feed>"
        )
    records = list(records_from_abstracts(dump))
    assert [r.title for r in records] == ["Kroger", "NBA"]
    path = build_kb(records, tmp_path / "a.sqlite", source=str(dump))
    assert WikipediaKB(path).lookup("kroger") == "The Kroger Company is an American retail company."


def test_bad_inputs(tmp_path):
    with pytest.raises(KnowledgeBaseError, match="no knowledge base"):
        WikipediaKB(tmp_path / "missing.sqlite")
    with pytest.raises(KnowledgeBaseError, match="no records"):
        build_kb([KBRecord(title="  ")], tmp_path / "empty.sqlite", source="empty")
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(KnowledgeBaseError):
        WikipediaKB(junk)
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"title": "A"}\n{oops}\n')
    with pytest.raises(ValueError, match="bad.jsonl:2"):
        list(records_for_source(f"jsonl:{bad}"))
    with pytest.raises(ValueError, match="unknown KB source"):
        records_for_source("wikidata")


def test_summary_caps_at_sentence_boundaries():
    text = "First sentence here. Second sentence is longer than the first. Third."
    assert summary("A thing", text, 40) == "A thing. First sentence here."
    assert summary("", "One very long sentence without any end in sight at all", 30).endswith("…")
    assert len(summary("d", text, 1000)) <= 1000 and normalise("Ça-va! #Kerr") == "ca va kerr"


def test_provider_fills_wikipedia(kb_path):
    provider = WikipediaKnowledge(kb_path)
    knowledge = provider.provide(KnowledgeRequest(sentence="Steve Kerr praises the Warriors", candidate="Warriors"))
    assert knowledge.wikipedia.startswith("NBA team.")
    assert provider.provide(KnowledgeRequest(sentence="x", candidate="zzz")).wikipedia is None
