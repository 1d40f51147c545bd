"""Words <-> sub-words: splitting raw text into words with character offsets, sentences of words,
first-sub-word label alignment, and word windows for sentences longer than the encoder (never a
silent cut).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from transformers import PreTrainedTokenizerBase

logger = logging.getLogger(__name__)

IGNORE_INDEX = -100
OBJECT_TOKEN = "<obj>"  # precedes each object's text in stage 2's prompt
# Tweets and newswire are tokenised with punctuation split off; '@user', '#tag' and URLs stay whole.
_WORD_PATTERN = re.compile(r"https?://\S+|[@#]?\w+(?:[-'’.]\w+)*|[^\w\s]", re.UNICODE)


@dataclass(frozen=True)
class Word:
    text: str
    start: int
    end: int


class SequenceTooLongError(ValueError):
    """A single word is longer than the encoder can take; it cannot be windowed."""


def split_words(text: str) -> list[Word]:
    """Split raw text into words with character offsets (``text[w.start:w.end] == w.text``)."""
    return [Word(match.group(), match.start(), match.end()) for match in _WORD_PATTERN.finditer(text)]


def words_from_tokens(tokens: Sequence[str]) -> tuple[str, list[Word]]:
    """Join pre-tokenised words with single spaces and return the text and their offsets."""
    words, position = [], 0
    for token in tokens:
        words.append(Word(token, position, position + len(token)))
        position += len(token) + 1
    return " ".join(tokens), words


_END_MARKS, _CLOSERS = ".!?\u2026", "\"'\u201d\u2019)]"  # a sentence ends in a mark, then closing quotes / brackets
_SENTENCE_END = re.compile(f"[{re.escape(_END_MARKS)}][{re.escape(_CLOSERS)}]*$")
_SENTENCE_END_LAST = frozenset(_END_MARKS + _CLOSERS)  # what a word _SENTENCE_END matches ends with
_TITLES = "mr|mrs|ms|dr|st|jr|sr|prof|vs|inc|ltd|co|corp|gen|gov|sen|rep"
_NOT_AN_END = re.compile(rf"^(?:(?:[A-Za-z]\.)+|(?:{_TITLES}|no)\.)$", re.IGNORECASE)  # J.  U.S.  Mr.  No.
# the same before a split-off "." (split_words gives "Mr" + "."): an upper-case initial other than "I",
# a dotted acronym, a title ("no ." and "i ." are too often sentence ends)
_BEFORE_ABBREVIATION_DOT = re.compile(rf"^(?:[A-HJ-Z]|[A-Za-z](?:\.[A-Za-z])+|(?i:{_TITLES}))$")


def sentence_spans(words: Sequence[str]) -> list[tuple[int, int]]:
    """Word spans ``[start, end)`` of the sentences of ``words``, for tokenised text (``game .``) and
    for whitespace-split raw text (``game.``) alike. A sentence ends at a word ending in ``.``, ``!``,
    ``?`` or an ellipsis (closing quotes and brackets allowed), except initials, dotted acronyms and
    common abbreviations (``J.``, ``U.S.``, ``Mr.``, or ``Mr`` + ``.`` as split_words gives them),
    and except punctuation attached to a word that a lower-case word follows (``Yahoo! is``). Errs
    towards longer sentences."""
    spans, start = [], 0
    for index, word in enumerate(words):
        if word[-1:] not in _SENTENCE_END_LAST or not _SENTENCE_END.search(word) or _NOT_AN_END.match(word):
            continue
        standalone = not any(character.isalnum() for character in word)
        if word == "." and index > start and _BEFORE_ABBREVIATION_DOT.match(words[index - 1]):
            continue
        following = words[index + 1] if index + 1 < len(words) else ""
        if not standalone and following[:1].islower():
            continue
        spans.append((start, index + 1))
        start = index + 1
    if start < len(words):
        spans.append((start, len(words)))
    return spans


def split_sentences(text: str) -> list[str]:
    """The sentences of raw text (whitespace normalised), by :func:`sentence_spans`."""
    words = text.split()
    return [" ".join(words[start:end]) for start, end in sentence_spans(words)]


def subword_counts(tokenizer: PreTrainedTokenizerBase, words: Sequence[str]) -> list[int]:
    """Number of sub-words of each word (at least 1: an empty encoding still takes a position).

    Text is always tokenised with ``split_special_tokens=True``: a literal ``[MASK]`` or ``<obj>`` in
    user text is text, never a special token."""
    return subword_counts_many(tokenizer, [words])[0]


def subword_counts_many(tokenizer: PreTrainedTokenizerBase, sentences: Sequence[Sequence[str]]) -> list[list[int]]:
    """:func:`subword_counts` of each sentence, with one tokenizer call for all of them (a call per
    sentence costs more than the tokenising itself on short texts)."""
    flat = [word for words in sentences for word in words]
    encoded = tokenizer(flat, add_special_tokens=False, split_special_tokens=True)["input_ids"] if flat else []
    counts, cursor = [], 0
    for words in sentences:
        counts.append([max(1, len(ids)) for ids in encoded[cursor : cursor + len(words)]])
        cursor += len(words)
    return counts


LENGTH_SLACK = 1.25  # a batch's longest row is at most this times its shortest (plus a few tokens): little padding


def length_batches(lengths: Sequence[int], max_rows: int) -> list[list[int]]:
    """Indices grouped into batches of similar length (sorted, at most ``max_rows`` each): a new batch
    starts when a row would be padded too much, so padding stays small even when lengths vary a lot
    (texts of a few words beside long ones; packed sequences of one to a dozen candidates)."""
    batches: list[list[int]] = []
    for index in sorted(range(len(lengths)), key=lambda i: lengths[i]):
        if not batches or len(batches[-1]) >= max_rows or lengths[index] > LENGTH_SLACK * lengths[batches[-1][0]] + 8:
            batches.append([])
        batches[-1].append(index)
    return batches


def word_windows(counts: Sequence[int], max_subwords: int, overlap: int = 0) -> list[tuple[int, int]]:
    """Cover all words with windows ``[start, end)`` of at most ``max_subwords`` sub-words each.

    Consecutive windows share about ``overlap`` words (fewer when a window is too short for that).
    One window covers the whole sentence when it fits.
    """
    if any(count > max_subwords for count in counts):
        longest = max(counts)
        raise SequenceTooLongError(f"a word has {longest} sub-words, more than the {max_subwords} allowed")
    windows: list[tuple[int, int]] = []
    start = 0
    while True:
        end, used = start, 0
        while end < len(counts) and used + counts[end] <= max_subwords:
            used += counts[end]
            end += 1
        windows.append((start, end))
        if end >= len(counts):
            return windows
        start = max(start + 1, end - overlap)


def add_object_token(tokenizer: PreTrainedTokenizerBase, object_token: str = OBJECT_TOKEN) -> int:
    """Add ``<obj>`` as a special token (idempotent) and return its id; the model's embeddings must
    then be resized to ``len(tokenizer)``."""
    if object_token not in tokenizer.get_vocab():
        tokenizer.add_special_tokens({"additional_special_tokens": [object_token]})
    return tokenizer.convert_tokens_to_ids(object_token)


# What an uncased backbone cannot see: a word's capitalisation and shape (id 0: no word / not a first sub-word).
WORD_SHAPES: tuple[str, ...] = (
    "none", "lower", "capitalised", "upper", "mixed", "digits", "hashtag", "mention", "url", "punctuation", "other",
)
_SHAPE_ID = {name: index for index, name in enumerate(WORD_SHAPES)}


def lowercases(tokenizer: PreTrainedTokenizerBase) -> bool:
    """Whether the tokenizer folds case (an uncased backbone such as MiniLM), so that the encoder cannot
    see capitalisation and stage 1 needs word shapes."""
    return tokenizer.tokenize("Paris Hilton NASA") == tokenizer.tokenize("paris hilton nasa")


def word_shape(word: str) -> int:
    """The :data:`WORD_SHAPES` id of a word: ``Kerr`` capitalised, ``NBA`` upper, ``iPhone`` mixed, ..."""
    if word.startswith(("http://", "https://")):
        return _SHAPE_ID["url"]
    if len(word) > 1 and word[0] in "#@":
        return _SHAPE_ID["hashtag" if word[0] == "#" else "mention"]
    letters = [c for c in word if c.isalpha()]
    if not letters:
        return _SHAPE_ID["digits" if any(c.isdigit() for c in word) else "punctuation"]
    if any(c.isdigit() for c in word):
        return _SHAPE_ID["digits"]
    if all(c.islower() for c in letters):
        return _SHAPE_ID["lower"]
    if all(c.isupper() for c in letters):
        return _SHAPE_ID["upper" if len(letters) > 1 else "capitalised"]
    if letters[0].isupper() and all(c.islower() for c in letters[1:]):
        return _SHAPE_ID["capitalised"]
    return _SHAPE_ID["mixed"] if letters else _SHAPE_ID["other"]


def first_subword_positions(word_ids: Sequence[int | None]) -> list[tuple[int, int]]:
    """``(position, word)`` for the first sub-word of each word (a fast tokenizer's ``word_ids()``):
    where a word is labelled, scored and given its shape."""
    positions, previous = [], None
    for position, word_id in enumerate(word_ids):
        if word_id is not None and word_id != previous:
            positions.append((position, word_id))
        previous = word_id
    return positions


def first_subword_shapes(word_ids: Sequence[int | None], words: Sequence[str]) -> list[int]:
    """Word-shape ids aligned to sub-words: the word's shape at its first sub-word, 0 elsewhere."""
    return first_subword_values(word_ids, [word_shape(word) for word in words])


def first_subword_values(word_ids: Sequence[int | None], word_values: Sequence[int]) -> list[int]:
    """Per-word feature ids (e.g. word shapes) aligned to sub-words: at each word's first sub-word, 0 elsewhere."""
    values = [0] * len(word_ids)
    for position, word_id in first_subword_positions(word_ids):
        values[position] = word_values[word_id]
    return values


def pad_word_features(rows: Sequence[Sequence[int]], width: int, padding_side: str = "right") -> torch.Tensor:
    """Per-sub-word feature rows (e.g. word shapes) padded with 0 (no word) to ``width`` on the
    tokenizer's padding side: the ``word_shape_ids`` beside a batch's padded ``input_ids``."""
    padded = torch.zeros(len(rows), width, dtype=torch.long)
    for index, row in enumerate(rows):
        if len(row):
            columns = slice(width - len(row), width) if padding_side == "left" else slice(0, len(row))
            padded[index, columns] = torch.tensor(list(row), dtype=torch.long)
    return padded


def align_first_subword_labels(word_ids: Sequence[int | None], word_labels: Sequence[int]) -> list[int]:
    """Label the first sub-word of each word; other sub-words and special tokens get -100."""
    labels = [IGNORE_INDEX] * len(word_ids)
    for position, word_id in first_subword_positions(word_ids):
        labels[position] = word_labels[word_id]
    return labels


def encode_words_for_training(
    tokenizer: PreTrainedTokenizerBase,
    tokens: Sequence[Sequence[str]],
    labels: Sequence[Sequence[int]],
    max_length: int,
    *,
    word_shapes: bool = False,
) -> dict[str, list]:
    """Tokenise word sequences with first-sub-word labels; a sentence over ``max_length`` sub-words is
    split into consecutive word windows (logged), so no word is lost. Each row's words come back in
    ``words`` (for scoring); with ``word_shapes``, ``word_shape_ids`` too. For ``datasets.map(batched=True)``.
    """
    budget = max_length - tokenizer.num_special_tokens_to_add(pair=False)
    pieces_tokens, pieces_labels, windowed = [], [], 0
    for sentence, sentence_labels, counts in zip(tokens, labels, subword_counts_many(tokenizer, tokens)):
        windows = word_windows(counts, budget)
        windowed += len(windows) > 1
        for start, end in windows:
            pieces_tokens.append(list(sentence[start:end]))
            pieces_labels.append(list(sentence_labels[start:end]))
    if windowed:
        logger.warning("%d sentences longer than %d sub-words were split into word windows", windowed, max_length)
    encoded = tokenizer(pieces_tokens, is_split_into_words=True, truncation=False, split_special_tokens=True)
    encoded["labels"] = [
        align_first_subword_labels(encoded.word_ids(index), piece) for index, piece in enumerate(pieces_labels)
    ]
    if word_shapes:
        encoded["word_shape_ids"] = [first_subword_shapes(encoded.word_ids(index), piece) for index, piece in enumerate(pieces_tokens)]
    encoded["words"] = pieces_tokens
    return encoded
