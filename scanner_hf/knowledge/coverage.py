"""How much of a labelled split's entities the entity KB knows: the share of distinct gold entity
strings with a name match (no fuzzy search) and with a typed entry, for all and for unseen strings
(not an entity string of train), per gold type, and per KB source (from the source bits each name
and type carries), next to the merged KB.

>>> coverage = kb_coverage(EntityKB("kb.sqlite"), splits["test"], splits["train"])   # doctest: +SKIP
>>> coverage["merged"]["unseen"]["name"]                                              # doctest: +SKIP
0.55

:func:`kb_type_agreement` asks the next question: when the KB types a gold entity string, does the
type of the entry the prompt leads with say the gold type? It explains where a KB can mislead.
"""

from __future__ import annotations

from collections import defaultdict

import datasets

from ..data import entity_strings
from ..tags import tags_to_spans
from .kb import EntityKB


def gold_spans(split: datasets.Dataset) -> list[tuple[int, int, int, str]]:
    """Every gold entity as ``(sentence index, start word, end word, type)``, in text order."""
    names = split.features["ner_tags"].feature.names
    return [
        (index, span.start, span.end, span.label)
        for index, tag_ids in enumerate(split["ner_tags"])
        for span in tags_to_spans([names[i] for i in tag_ids])
    ]


def gold_entities(split: datasets.Dataset) -> dict[str, set[str]]:
    """Distinct gold entity strings (words joined by one space) -> their gold types."""
    tokens = split["tokens"]
    found: dict[str, set[str]] = defaultdict(set)
    for index, start, end, label in gold_spans(split):
        found[" ".join(tokens[index][start:end])].add(label)
    return found


def _share(hits: int, total: int) -> float:
    return hits / total if total else 0.0


def kb_coverage(kb: EntityKB, split: datasets.Dataset, train_split: datasets.Dataset | None = None) -> dict:
    """Coverage of ``split``'s gold entity strings by ``kb`` (see the module docstring). Keys:
    ``merged`` and each source spec, each with ``all`` / ``unseen`` shares of ``name`` and ``typed``
    hits and the ``strings`` counted; ``merged`` adds ``fuzzy`` (any hit, fuzzy search included) and
    ``per_type``."""
    gold = gold_entities(split)
    seen = entity_strings(train_split) if train_split is not None else set()
    sources = kb.sources()
    counts: dict[str, dict[str, dict[str, int]]] = {
        name: {group: defaultdict(int) for group in ("all", "unseen")} for name in ["merged", *sources]
    }
    per_type: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for string, types in gold.items():
        entries = kb.find_all(string, fuzzy=False)
        name_mask = type_mask = 0
        for entry in entries:
            name_mask |= entry.name_sources
            type_mask |= entry.type_sources
        groups = ["all"] + ([] if string in seen else ["unseen"])
        hits = {"merged": (bool(entries), any(entry.types for entry in entries))}
        hits.update({source: (bool(name_mask >> i & 1), bool(type_mask >> i & 1)) for i, source in enumerate(sources)})
        fuzzy = bool(entries) or bool(kb.find_all(string))
        for name, (name_hit, typed_hit) in hits.items():
            for group in groups:
                tally = counts[name][group]
                tally["strings"] += 1
                tally["name"] += name_hit
                tally["typed"] += typed_hit
                if name == "merged":
                    tally["fuzzy"] += fuzzy
        for label in types:
            per_type[label]["strings"] += 1
            per_type[label]["name"] += hits["merged"][0]
            per_type[label]["typed"] += hits["merged"][1]
    result: dict = {}
    for name, groups in counts.items():
        result[name] = {
            group: {"strings": tally["strings"], **{key: _share(tally[key], tally["strings"]) for key in ("name", "typed", "fuzzy") if key in tally}}
            for group, tally in groups.items()
        }
    result["merged"]["per_type"] = {
        label: {"strings": tally["strings"], "name": _share(tally["name"], tally["strings"]), "typed": _share(tally["typed"], tally["strings"])}
        for label, tally in sorted(per_type.items())
    }
    return result


def coverage_table(coverage: dict) -> str:
    """A Markdown table of :func:`kb_coverage`'s result: one row per source and the merged KB."""
    lines = ["| source | names, all | names, unseen | typed, all | typed, unseen |", "|---|---|---|---|---|"]
    for name, groups in coverage.items():
        label = "**merged KB**" if name == "merged" else f"`{name}`"
        lines.append(
            f"| {label} | {100 * groups['all']['name']:.1f} | {100 * groups['unseen']['name']:.1f} | "
            f"{100 * groups['all']['typed']:.1f} | {100 * groups['unseen']['typed']:.1f} |"
        )
    return "\n".join(lines)


AGREEMENT = ("agrees", "mixed", "conflicts", "untyped", "no entry")


def type_verdict(entry_types: list[str], gold_types: set[str], type_map: dict[str, str]) -> str:
    """How an entry's types (mapped to labels by ``type_map``; unmapped types ignored) relate to a
    string's gold types: all mapped labels gold (``agrees``), some (``mixed``), none (``conflicts``),
    or no mapped type (``untyped``)."""
    labels = {type_map[name] for name in entry_types if name in type_map}
    if not labels:
        return "untyped"
    hits = len(labels & gold_types)
    return "agrees" if hits == len(labels) else "mixed" if hits else "conflicts"


def kb_type_agreement(
    kb: EntityKB, split: datasets.Dataset, type_map: dict[str, str], seen: set[str] | None = None
) -> dict[str, dict[str, dict[str, int]]]:
    """For each gold type, how many distinct gold entity strings fall in each :data:`AGREEMENT`
    class, judged on the first entry :meth:`EntityKB.find_many` returns (what the prompt leads with;
    no fuzzy search). ``type_map`` maps KB type words to the split's labels (``{"city": "LOC"}``).
    Returns ``{"all" | "unseen": {gold type: {class: count}}}``; unseen = not in ``seen``."""
    gold = gold_entities(split)
    strings = list(gold)
    result: dict[str, dict[str, dict[str, int]]] = {
        group: defaultdict(lambda: dict.fromkeys(AGREEMENT, 0)) for group in ("all", "unseen")
    }
    for string, entries in zip(strings, kb.find_many(strings, fuzzy=False, limit=kb.max_entries)):
        gold_types = gold[string]
        groups = ["all"] if seen is None or string in seen else ["all", "unseen"]
        verdict = type_verdict(entries[0].types, gold_types, type_map) if entries else "no entry"
        for group in groups:
            for label in gold_types:
                result[group][label][verdict] += 1
    return {group: dict(sorted(per_type.items())) for group, per_type in result.items()}
