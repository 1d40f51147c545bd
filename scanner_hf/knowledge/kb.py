"""The entity knowledge base, looked up: one SQLite file of typed entities with their surface forms
(built by :mod:`.kb_build`), looked up by candidate string for stage 2's ``{wikipedia}`` slot.

An entry has a canonical title, a short description, lead text and zero or more types in words
("sports team", "city"); its names are the title, aliases / redirects, and the spaced-out form
written together (``manchester united`` -> ``manchesterunited``, for hashtags).

Lookup for a candidate: the normalised string (case, accents, a leading ``#``/``@``, punctuation and
underscores folded), then its camelCase split (``NewYorkMets`` -> ``new york mets``), then its words
written together, each against titles and surface forms; then, optionally, full-text search over
titles. What goes into the prompt is short, e.g. ``manchester united f.c. (sports team)`` for
``mufc``; a surface shared by several entries lists up to ``max_entries`` of them within
``max_chars``. Every query is parameterised; full-text queries quote each word.

>>> kb = EntityKB("kb.sqlite")                                  # doctest: +SKIP
>>> kb.lookup("#mufc")                                           # doctest: +SKIP
'manchester united f.c. (sports team)'
"""

from __future__ import annotations

import dataclasses
import json
import logging
import re
import sqlite3
import unicodedata
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..providers import Knowledge, KnowledgeProvider, KnowledgeRequest
from ..tokenization import split_sentences
from .kb_sources import KnowledgeBaseError

logger = logging.getLogger(__name__)

SCHEMA_VERSION = "2"
TITLE, ALIAS, JOINED = 2, 1, 0  # name kinds, best first
# Titles enter the full-text index (kb_build) shortest first (words, then name: a title's key is its normalised
# name, so words = spaces + 1). Every title a fuzzy query matches holds all its words, so BM25 ranks
# them by length alone (bar a word repeated in a title), and the first match in rowid order is the
# best one: the lookup stops at it instead of scoring every match (``ORDER BY rank``). KBs built
# before keep the ranked query (no ``full_text_order`` in their meta).
FULL_TEXT_ORDER = "shortest-first"
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
    """The words of ``text`` (single-spaced) up to the first that ends past ``max_chars`` characters, and
    two more (a margin for the sentence-end rules that look at the next word; an empty word for each
    missing one): a summary never reads further, and sentence-splitting a whole article lead for each
    lookup was a third of the lookup time. Found with ``str.find`` rather than a loop over the words."""
    joined = " ".join(text.split())
    if not joined or len(joined) <= max_chars:
        return joined
    cut = joined.find(" ", max(max_chars, 0) + 1)  # the end of the first word that ends past max_chars
    for missing in (2, 1):  # two more words
        if cut == -1:
            return joined + " " * missing  # what " ".join() gave with an empty word for each missing one
        cut = joined.find(" ", cut + 1)
    return joined if cut == -1 else joined[:cut]


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
    matched_name: str = ""  # the KB name (normalised) the candidate matched: the title, or an alias such as a redirect

    def as_dict(self) -> dict:
        """What a user sees of the entry (``return_knowledge``): title, types, description, the name that matched."""
        return {"title": self.title, "types": list(self.types), "description": self.description or summary("", self.text, 200),
                "matched_name": self.matched_name, "match": self.match}

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
    """Read-only lookups in a KB built by :func:`~.kb_build.build_kb_from_sources` (one connection per instance).

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
        meta = self.meta()
        if meta.get("schema") != SCHEMA_VERSION:
            raise KnowledgeBaseError(f"{self.path} has KB schema {meta.get('schema')!r}; rebuild it (`scanner-ner kb build --force`)")
        # Read pages through a memory map (no copy into SQLite's page cache): faster random lookups
        # in a KB of millions of names; the OS shares the mapped pages between processes.
        self.connection.execute(f"PRAGMA mmap_size = {self.MMAP_BYTES}")
        self.has_full_text = "names_fts" in tables
        ranked = meta.get("full_text_order") != FULL_TEXT_ORDER
        if ranked and self.has_full_text:
            logger.info("%s was built before the shortest-first full-text index: its fuzzy fallback scores every match "
                        "(slower, same answers); `scanner-ner kb build --force` rebuilds it", self.path)
        self.ranked_full_text = ranked
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
    LEAD_MARGIN = 200  # characters of lead text read past ``max_chars``: a summary never reads further
    # What an entry row carries (after the entry id, name kind and name sources): title, description, the
    # start of the lead, and its types as ``type<US>sources`` joined by <RS> (one query, no second
    # round trip for the types).
    _ENTRY_COLUMNS = (
        "e.title, e.description, substr(e.text, 1, ?), "
        "(SELECT group_concat(t.type || char(31) || t.sources, char(30)) FROM types AS t WHERE t.entry_id = e.id)"
    )

    def _lead_chars(self) -> int:
        return self.max_chars + self.LEAD_MARGIN

    def _names(self, keys: Sequence[str]) -> dict[str, list[tuple]]:
        """Entry rows (see ``_ENTRY_COLUMNS``) per name key, best kind first, then entry order: one
        joined query per batch of keys."""
        found: dict[str, list[tuple]] = {}
        rows = self._rows_in_batches(
            f"SELECT n.name, n.entry_id, n.kind, n.sources, {self._ENTRY_COLUMNS} FROM names AS n "
            "JOIN entries AS e ON e.id = n.entry_id WHERE n.name IN ({marks})", list(dict.fromkeys(keys))
        )
        for name, *row in rows:
            found.setdefault(name, []).append(tuple(row))
        for rows in found.values():
            rows.sort(key=lambda row: (-row[1], row[0]))
        return found

    @staticmethod
    def _entry(row: tuple, match_name: str) -> KBEntry:
        _, _, sources, title, description, text, packed_types = row
        types, type_mask = [], 0
        if packed_types:
            for pair in sorted(packed_types.split("\x1e")):
                type_name, _, mask = pair.rpartition("\x1f")
                types.append(type_name)
                type_mask |= int(mask)
        return KBEntry(title, description or "", text or "", types, match_name, sources, type_mask)

    def _best_for_key(self, key: str, matches: list[tuple]) -> list[KBEntry]:
        """The entries of one matched key, best first (see :meth:`find_all`)."""
        if matches[0][1] > JOINED:
            matches = [match for match in matches if match[1] > JOINED]
        entries = [dataclasses.replace(self._entry(match, _MATCH_NAMES[match[1]]), matched_name=key) for match in matches]
        informative = [bool(e.types or e.description or e.text) or normalise(e.title) != key for e in entries]
        order = sorted(range(len(entries)), key=lambda i: (not informative[i], -matches[i][1], i))
        if any(informative):
            order = [i for i in order if informative[i]]
        return [entries[i] for i in order]

    def _fuzzy_many(self, candidates: Sequence[str]) -> dict[str, list[KBEntry]]:
        """The full-text fallback for candidates no name matches: the best title holding all of a
        candidate's words, for all of them in one statement (each word quoted)."""
        found: dict[str, list[KBEntry]] = {candidate: [] for candidate in candidates}
        queries = {}
        for candidate in found:
            key = normalise(candidate)
            if key:
                queries[candidate] = " ".join('"' + word.replace('"', '""') + '"' for word in key.split())
        if not (queries and self.has_full_text):
            return found
        order = "ORDER BY rank " if self.ranked_full_text else ""
        rows = self.connection.execute(
            f"SELECT k.value, (SELECT entry_id FROM names_fts WHERE names_fts MATCH k.value {order}LIMIT 1) FROM json_each(?) AS k",
            (json.dumps(list(dict.fromkeys(queries.values()))),),
        ).fetchall()
        entry_of = {query: entry_id for query, entry_id in rows if entry_id is not None}
        entries = self._entries_by_id(list(dict.fromkeys(entry_of.values())))
        for candidate, query in queries.items():
            if query in entry_of:
                found[candidate] = [dataclasses.replace(self._entry(entries[entry_of[query]], "fuzzy"), matched_name=normalise(candidate))]
        return found

    def _entries_by_id(self, entry_ids: Sequence[int]) -> dict[int, tuple]:
        """Entry rows (as a title match of no source) by id: one query per batch of ids."""
        rows = self._rows_in_batches(f"SELECT e.id, {TITLE}, 0, {self._ENTRY_COLUMNS} FROM entries AS e WHERE e.id IN ({{marks}})", entry_ids)
        return {row[0]: row for row in rows}

    def _rows_in_batches(self, query: str, values: Sequence) -> list[tuple]:
        """Rows of ``query`` (its ``{marks}``: an IN list; its first parameter: the lead's length) for
        all ``values``, asked ``_IN_BATCH`` at a time."""
        rows = []
        for offset in range(0, len(values), self._IN_BATCH):
            batch = values[offset : offset + self._IN_BATCH]
            rows += self.connection.execute(query.format(marks=",".join("?" * len(batch))), [self._lead_chars(), *batch]).fetchall()
        return rows

    def find_many(self, candidates: Sequence[str], *, fuzzy: bool | None = None, limit: int = 10) -> list[list[KBEntry]]:
        """:meth:`find_all` for many candidates with a few batched queries: names (with their entries
        and types), then the other keys of the misses, then one full-text statement for what is left.
        An entry's ``text`` is the start of its lead, as much as a summary within ``max_chars`` reads."""
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
            if key:
                chosen[candidate] = (key, names[key][:limit])
        answers = {candidate: self._best_for_key(key, rows) for candidate, (key, rows) in chosen.items()}
        misses = [candidate for candidate in plain if candidate not in answers]
        if self.fuzzy if fuzzy is None else fuzzy:
            answers.update(self._fuzzy_many(misses))
        return [answers.get(candidate, []) for candidate in candidates]

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
        self._memo: OrderedDict[str, Knowledge] = OrderedDict()

    def _remember(self, candidate: str, entries: Sequence[KBEntry]) -> Knowledge:
        """The knowledge of ``entries`` (the text the prompt reads, and the entries it describes), kept."""
        shown = list(entries)[: self.kb.max_entries]
        knowledge = Knowledge(wikipedia=self.kb.describe_entries(shown), kb_entries=[entry.as_dict() for entry in shown])
        self._memo[candidate] = knowledge
        self._memo.move_to_end(candidate)
        while len(self._memo) > self.memo_size:
            self._memo.popitem(last=False)
        return knowledge

    def prefetch(self, requests: Sequence[KnowledgeRequest]) -> None:
        missing = list(dict.fromkeys(r.candidate for r in requests if r.candidate not in self._memo))
        for candidate, entries in zip(missing, self.kb.find_many(missing)):
            self._remember(candidate, entries)

    def provide(self, request: KnowledgeRequest) -> Knowledge:
        if request.candidate in self._memo:
            self._memo.move_to_end(request.candidate)
            return self._memo[request.candidate]
        return self._remember(request.candidate, self.kb.find_all(request.candidate))
