"""Stage-1 knowledge in training: the entity KB's matches as a column of each split (what stage 1's KB
features read), and the common words those matches may not rest on alone, chosen on the validation split.

The choice: the ``COMMON_WORD_COUNTS`` most frequent training words that stand mostly outside gold
entities are tried, and the count whose matches have the best span F1 against the validation split's gold
entities wins (ties: fewer words). A frequency cut, since the KB's entry counts and types do not tell
"love" the song from "love" the word.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import datasets

from ..knowledge.kb_matching import common_words, match_scores
from ..providers import KnowledgeProvider, WordMatches
from ..tags import tags_to_spans

logger = logging.getLogger(__name__)

COMMON_WORD_COUNTS: tuple[int, ...] = (0, 100, 300, 1000, 3000, 10000)


def entity_kb(providers: Sequence[KnowledgeProvider]) -> KnowledgeProvider | None:
    """The first provider that is an entity KB (answers ``match_words``)."""
    return next((provider for provider in providers if provider.match_words([]) is not None), None)


def gold_spans(split: datasets.Dataset) -> list[list[tuple[int, int]]]:
    """Each sentence's gold entity spans (word indices, end exclusive), types ignored."""
    names = split.features["ner_tags"].feature.names
    return [[(span.start, span.end) for span in tags_to_spans([names[i] for i in ids])] for ids in split["ner_tags"]]


def choose_common_words(
    kb: KnowledgeProvider,
    train_split: datasets.Dataset,
    eval_split: datasets.Dataset | None,
    counts: Sequence[int] = COMMON_WORD_COUNTS,
) -> tuple[list[str], dict[int, dict]]:
    """The common words (see the module docstring) and the match scores on the validation split of each
    count tried; without a validation split, the training split scores (logged)."""
    inside = [[False] * len(words) for words in train_split["tokens"]]
    for flags, spans in zip(inside, gold_spans(train_split)):
        for start, end in spans:
            flags[start:end] = [True] * (end - start)
    ranked = common_words(train_split["tokens"], inside, max(counts))
    if eval_split is None:
        logger.warning("no validation split: the KB's common words are chosen on the training split")
    scored = eval_split if eval_split is not None else train_split
    gold = gold_spans(scored)
    tried = {count: match_scores(kb.match_words(scored["tokens"], ranked[:count]), gold) for count in counts}
    best = max(counts, key=lambda count: (tried[count]["f1"], -count))
    logger.info("KB common words: the %d most frequent non-entity training words (match F1 on dev %s)", best,
                {count: round(scores["f1"], 4) for count, scores in tried.items()})
    return ranked[:best], tried


def add_kb_matches(split: datasets.Dataset, matches: Sequence[WordMatches]) -> datasets.Dataset:
    """The split with a ``kb_tags`` column (per word, a ``tokenization.KB_TAGS`` id) from ``matches``."""
    if "kb_tags" in split.column_names:
        split = split.remove_columns("kb_tags")
    return split.add_column("kb_tags", [match.tags for match in matches])
