"""KB names in running text, before stage 1: which word n-grams of a sentence are surface forms of the
entity KB, and what coarse type their entries have. Stage 1 reads the result as a learned feature per
word (``ScannerSpanDetectorConfig.kb_features``), and typed matches can join stage 1's candidates
(``ScannerConfig.kb_candidates``), so that knowledge reaches entities stage 1 would miss.

An n-gram (up to :data:`MAX_MATCH_WORDS` words) is looked up under the keys a candidate is
(``kb.lookup_keys``: normalised, with ``#``/``@`` and punctuation folded; a single word also camelCase
split and written together). Matches are taken longest first, left to right. An n-gram whose words are
all *common words* (chosen on the training data, :func:`common_words`) never matches: "the", "game"
and "love" are KB titles, and would otherwise tag every tweet. All n-grams of a batch of sentences go
to SQLite in a few ``IN (...)`` queries.

>>> matcher = KBMatcher(EntityKB("kb.sqlite"), common_words=["the", "game"])   # doctest: +SKIP
>>> matcher.match([["#NewYorkMets", "win", "the", "game"]])[0].spans            # doctest: +SKIP
[(0, 1, 'organisation')]
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence

from ..providers import WordMatches
from ..tokenization import KB_OUTSIDE, KB_TYPE_BUCKETS, kb_tag_id
from .kb import JOINED, EntityKB, lookup_keys, normalise

MAX_MATCH_WORDS = 4
_IN_BATCH = 500

# KB type words -> coarse buckets (the types the merged KB's sources give; others count as "other").
# Bands ("musical artist") are persons, as the Twitter sets mostly tag them; buildings and venues locations.
TYPE_BUCKETS: dict[str, str] = {
    **dict.fromkeys(["person", "musical artist", "given name", "surname"], "person"),
    **dict.fromkeys(["city", "country", "road", "building", "museum", "venue", "location"], "location"),
    **dict.fromkeys([
        "company", "sports team", "university", "government agency", "newspaper", "sports league", "television network",
        "television channel", "car maker", "video game developer", "brand", "organisation", "organization", "website",
    ], "organisation"),
}
_BUCKET_ORDER = {bucket: index for index, bucket in enumerate(KB_TYPE_BUCKETS)}


def bucket_of(types: Iterable[str]) -> str:
    """The coarse bucket of an entry's (or a name's entries') type words: the most frequent one
    (ties in ``KB_TYPE_BUCKETS`` order); ``untyped`` without types."""
    counts = Counter(TYPE_BUCKETS.get(name, "other") for name in types)
    if not counts:
        return "untyped"
    return min(counts, key=lambda bucket: (-counts[bucket], _BUCKET_ORDER[bucket]))


class KBMatcher:
    """Finds KB names in word-split sentences (see the module docstring)."""

    def __init__(self, kb: EntityKB, common_words: Iterable[str] = (), max_words: int = MAX_MATCH_WORDS):
        self.kb = kb
        self.common_words = {normalise(word) for word in common_words}
        self.max_words = max_words

    def _keys(self, words: Sequence[str]) -> list[str]:
        if len(words) == 1:
            return lookup_keys(words[0])
        key = normalise(" ".join(words))
        return [key] if key else []

    def _candidates(self, sentence: Sequence[str]) -> dict[tuple[int, int], list[str]]:
        """Lookup keys of every n-gram that may match: no word without letters or digits, not all common."""
        plain = [normalise(word) for word in sentence]
        found = {}
        for start in range(len(sentence)):
            for end in range(start + 1, min(start + self.max_words, len(sentence)) + 1):
                if not plain[end - 1] or sentence[end - 1].startswith(("http://", "https://")):
                    break
                if all(word in self.common_words for word in plain[start:end]):
                    continue
                keys = self._keys(sentence[start:end])
                if keys:
                    found[(start, end)] = keys
        return found

    def _buckets(self, keys: Sequence[str]) -> dict[str, str]:
        """Each key that is a KB name -> the bucket of its entries' types (names written together count
        only when the key names nothing else)."""
        rows = []
        distinct = list(dict.fromkeys(keys))
        for offset in range(0, len(distinct), _IN_BATCH):
            batch = distinct[offset : offset + _IN_BATCH]
            rows += self.kb.connection.execute(
                "SELECT n.name, n.kind, (SELECT group_concat(t.type, char(30)) FROM types AS t WHERE t.entry_id = n.entry_id) "
                f"FROM names AS n WHERE n.name IN ({','.join('?' * len(batch))})", batch,
            ).fetchall()
        by_key: dict[str, list[tuple[int, str | None]]] = {}
        for name, kind, types in rows:
            by_key.setdefault(name, []).append((kind, types))
        buckets = {}
        for key, entries in by_key.items():
            if any(kind > JOINED for kind, _ in entries):
                entries = [entry for entry in entries if entry[0] > JOINED]
            buckets[key] = bucket_of(name for _, types in entries if types for name in types.split("\x1e"))
        return buckets

    def match(self, sentences: Sequence[Sequence[str]]) -> list[WordMatches]:
        """Per sentence, the KB tag of each word and the matched spans, longest match first."""
        candidates = [self._candidates(sentence) for sentence in sentences]
        buckets = self._buckets([key for found in candidates for keys in found.values() for key in keys])
        results = []
        for sentence, found in zip(sentences, candidates):
            tags, spans, start = [KB_OUTSIDE] * len(sentence), [], 0
            while start < len(sentence):
                for end in range(min(start + self.max_words, len(sentence)), start, -1):
                    bucket = next((buckets[key] for key in found.get((start, end), ()) if key in buckets), None)
                    if bucket is not None:
                        spans.append((start, end, bucket))
                        tags[start : end] = [kb_tag_id("B", bucket)] + [kb_tag_id("I", bucket)] * (end - start - 1)
                        start = end
                        break
                else:
                    start += 1
            results.append(WordMatches(tags, spans))
        return results


def common_words(sentences: Sequence[Sequence[str]], entity_words: Sequence[Sequence[bool]], count: int) -> list[str]:
    """The ``count`` most frequent (normalised) words of a training split that stand mostly outside its
    gold entities (``entity_words``: per word, inside an entity): the words a KB match must not rest on
    alone. Words mostly inside entities ("trump" in 2017 tweets) stay matchable."""
    total, inside = Counter(), Counter()
    for words, flags in zip(sentences, entity_words):
        for word, flag in zip(words, flags):
            key = normalise(word)
            if key:
                total[key] += 1
                inside[key] += flag
    ranked = [word for word, _ in total.most_common() if inside[word] * 2 < total[word]]
    return ranked[:count]


def match_scores(matches: Sequence[WordMatches], gold: Sequence[Sequence[tuple[int, int]]], typed_only: bool = False) -> dict:
    """Precision, recall and F1 of the matched spans as entity spans against gold spans (boundaries
    only), and the share of words tagged: how much a common-word cut floods or starves the features."""
    found = hit = gold_count = tagged = words = 0
    for sentence, spans in zip(matches, gold):
        predicted = {(s, e) for s, e, bucket in sentence.spans if not typed_only or bucket != "untyped"}
        truth = set(map(tuple, spans))
        found, hit, gold_count = found + len(predicted), hit + len(predicted & truth), gold_count + len(truth)
        tagged += sum(tag > KB_OUTSIDE for tag in sentence.tags)
        words += len(sentence.tags)
    precision, recall = hit / max(found, 1), hit / max(gold_count, 1)
    return {"precision": precision, "recall": recall, "f1": 2 * precision * recall / max(precision + recall, 1e-9),
            "tagged_words": tagged / max(words, 1), "matches": found}
