"""Stage 2's prompt, built as token ids:

    The entity is <mask> for {entity} in this sentence. {sentence} {wikipedia} {llm} {caption} <obj> {object 1} <obj> {object 2} ...

Each part is tokenised once (batched over all candidates) and the ids are assembled here, so fitting
the prompt into the encoder is arithmetic, not re-tokenisation. When the prompt is too long, knowledge
is shortened, never the entity or the sentence: objects go first (least similar first); then the room
left is shared fairly between the text sources (Wikipedia/KB, LLM, caption): a source shorter than
its share is kept whole and passes what it does not use to the others, and a longer one is cut to
its share from the end. So a short caption survives next to long LLM text, and each source keeps its
most useful part: its start (a KB entry's title and types come first) and, for LLM text, the
sentences about this candidate, which are moved to the front before shortening. A sentence that alone
does not fit is replaced by a window of words around the entity. With ``max_context_words``, a longer
input (a document) gives each candidate only the sentences around it, whole sentences where they fit,
so a candidate in a document costs what one in a tweet does (counted as ``context_limited``, logged
at info level: it is the configured behaviour, not a cut). Every shortening is counted in
:attr:`PromptBuilder.stats` and logged (as a warning) by every :meth:`PromptBuilder.build` call that
shortened anything.

User text is tokenised with ``split_special_tokens=True``: a literal ``[MASK]`` or ``<obj>`` in a
tweet stays text and cannot fake a slot.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from transformers import PreTrainedTokenizerBase

from .providers import Knowledge
from .tokenization import OBJECT_TOKEN, sentence_spans

logger = logging.getLogger(__name__)

HEAD_BEFORE_MASK = "The entity is"
HEAD_AFTER_MASK = "for {entity} in this sentence."


_LLM_PIECES = re.compile(r"(?<=[.!?])(?<!\b\d\.)\s+|(?<=\S)(?=\b\d{1,2}\.\s)|(?<=\S)(?=Reasoning:)")
_FOLD = re.compile(r"[\W_]+")


def _folded(text: str) -> str:
    return _FOLD.sub("", text.casefold())


def focus_on_candidate(text: str, candidate: str) -> str:
    """LLM text with its sentences (or numbered items) that name the candidate moved to the front, in
    their order, so shortening keeps what the LLM said about this candidate."""
    key = _folded(candidate)
    pieces = [piece.strip() for piece in _LLM_PIECES.split(text) if piece and piece.strip()]
    if not key or len(pieces) < 2:
        return text
    about = [piece for piece in pieces if key in _folded(piece)]
    if not about or about == pieces[: len(about)]:
        return text
    return " ".join(about + [piece for piece in pieces if key not in _folded(piece)])


def fair_shares(lengths: Sequence[int], room: int) -> list[int]:
    """Split ``room`` tokens between parts of the given lengths: parts shorter than an equal share
    keep their length and leave the rest to the others (water-filling)."""
    shares = [0] * len(lengths)
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    left = max(room, 0)
    for position, index in enumerate(order):
        shares[index] = min(lengths[index], left // (len(order) - position))
        left -= shares[index]
    return shares


class PromptTooLongError(ValueError):
    """The entity alone does not fit the encoder."""


def context_window(words: Sequence[str], start: int, end: int, max_words: int | None) -> tuple[int, int]:
    """The words ``[lo, hi)`` a prompt for the candidate ``[start, end)`` holds: all of them when they
    are at most ``max_words`` (or no limit is set); else the candidate's sentence(s), widened by whole
    neighbouring sentences (nearest first) while within ``max_words``; a sentence longer than that is
    cut to ``max_words`` words centred on the candidate (never the candidate itself)."""
    if not max_words or len(words) <= max_words:
        return 0, len(words)
    spans = sentence_spans(words)
    first = next(i for i, (lo, hi) in enumerate(spans) if lo <= start < hi)
    last = next(i for i, (lo, hi) in enumerate(spans) if lo < end <= hi)
    lo, hi = spans[first][0], spans[last][1]
    if hi - lo > max_words:
        spare = max(0, max_words - (end - start))
        lo = max(lo, start - spare // 2)
        hi = min(hi, max(end, lo + max_words))
        lo = max(spans[first][0], min(lo, hi - max_words, start))
        return lo, hi
    before, after = first - 1, last + 1
    grew = True
    while grew:
        grew = False
        if before >= 0 and hi - spans[before][0] <= max_words:
            lo, before, grew = spans[before][0], before - 1, True
        if after < len(spans) and spans[after][1] - lo <= max_words:
            hi, after, grew = spans[after][1], after + 1, True
    return lo, hi


@dataclass
class PromptInput:
    """One candidate: the sentence's words, the candidate's word span ``[start, end)``, its knowledge."""

    words: Sequence[str]
    start: int
    end: int
    knowledge: Knowledge


@dataclass
class EncodedPrompt:
    input_ids: list[int]
    object_indices: list[int]  # which of knowledge.objects got an <obj> slot, in prompt order
    sentence_window: tuple[int, int]  # the words of the sentence the prompt holds
    # what the token budget cut, e.g. {"wikipedia": "shortened", "objects_dropped": 2, "sentence_windowed": 1}
    cut: dict = field(default_factory=dict)


class PromptBuilder:
    """Builds stage-2 prompts for one tokenizer, within ``max_length`` tokens and ``max_objects``;
    ``max_context_words`` (None or 0: no limit) bounds the words of the input one prompt holds."""

    def __init__(
        self,
        tokenizer: PreTrainedTokenizerBase,
        *,
        max_length: int = 256,
        max_objects: int = 15,
        object_token: str = OBJECT_TOKEN,
        max_context_words: int | None = None,
    ):
        if tokenizer.mask_token_id is None:
            raise ValueError("stage 2 needs a tokenizer with a mask token (the <mask> slot)")
        if object_token not in tokenizer.get_vocab():
            raise ValueError(f"{object_token!r} is not in the tokenizer: call add_object_token(tokenizer) first")
        self.max_context_words = max_context_words or None
        self.tokenizer = tokenizer
        self.max_length = max_length
        self.max_objects = max_objects
        self.mask_token_id = tokenizer.mask_token_id
        self.object_token_id = tokenizer.convert_tokens_to_ids(object_token)
        framed = tokenizer(tokenizer.mask_token, add_special_tokens=True)["input_ids"]
        position = framed.index(self.mask_token_id)
        self.prefix, self.suffix = framed[:position], framed[position + 1 :]
        self.before_mask = self._ids([HEAD_BEFORE_MASK])[0]
        self.stats: Counter = Counter()

    def _ids(self, texts: Sequence[str]) -> list[list[int]]:
        if not texts:
            return []
        return self.tokenizer(list(texts), add_special_tokens=False, split_special_tokens=True)["input_ids"]

    def build(self, items: Sequence[PromptInput], *, skip_too_long: bool = False) -> list[EncodedPrompt | None]:
        """Encode many candidates at once (each part tokenised in one batched call). A candidate that
        cannot fit ``max_length`` even alone raises :class:`PromptTooLongError`, or with
        ``skip_too_long`` gets ``None`` (counted in ``stats["too_long"]``; the caller logs what it does)."""
        before, _, after = HEAD_AFTER_MASK.partition("{entity}")
        heads = self._ids([before + " ".join(item.words[item.start : item.end]) + after for item in items])
        sentences = self._ids([" ".join(item.words) for item in items])
        wikipedia = self._ids([item.knowledge.wikipedia or "" for item in items])
        llm = self._ids([
            focus_on_candidate(item.knowledge.llm, " ".join(item.words[item.start : item.end])) if item.knowledge.llm else ""
            for item in items
        ])
        captions = self._ids([item.knowledge.caption or "" for item in items])
        object_texts = [[obj.text() for obj in item.knowledge.objects[: self.max_objects]] for item in items]
        flat_objects = self._ids([text for texts in object_texts for text in texts])
        counted_before = Counter(self.stats)
        prompts, cursor = [], 0
        for index, item in enumerate(items):
            objects = flat_objects[cursor : cursor + len(object_texts[index])]
            cursor += len(object_texts[index])
            try:
                prompts.append(self._assemble(item, heads[index], sentences[index], wikipedia[index], llm[index], captions[index], objects))
            except PromptTooLongError:
                if not skip_too_long:
                    raise
                self.stats["too_long"] += 1
                prompts.append(None)
        shortened = self.stats - counted_before
        shortened.pop("too_long", 0)
        limited = shortened.pop("context_limited", 0)
        if limited:
            logger.info("%d of %d prompts hold only the sentences around their candidate (max_context_words=%d)",
                        limited, len(items), self.max_context_words)
        if shortened:
            logger.warning(
                "%d of %d prompts were shortened to fit %d tokens (knowledge first; the sentence only by windowing): %s",
                shortened.pop("prompts_shortened", 0), len(items), self.max_length, dict(shortened),
            )
        return prompts

    def _assemble(self, item, head, sentence, wikipedia, llm, caption, objects) -> EncodedPrompt:
        """One prompt within ``max_length``."""
        cut: dict = {}
        fixed = self.prefix + self.before_mask + [self.mask_token_id] + head
        room = self.max_length - len(fixed) - len(self.suffix)
        if room < 0:
            raise PromptTooLongError(
                f"the entity {' '.join(item.words[item.start:item.end])!r} alone needs more than {self.max_length} tokens"
            )
        knowledge_full = len(wikipedia) + len(llm) + len(caption) + sum(len(ids) + 1 for ids in objects)
        full_length = len(sentence) + knowledge_full
        window = bounds = context_window(item.words, item.start, item.end, self.max_context_words)
        if bounds != (0, len(item.words)) or len(sentence) > room:
            window, window_ids, bounded_length = self._sentence_window(item, room, bounds)
            sentence = [i for ids in window_ids for i in ids]
            if bounds != (0, len(item.words)):
                cut["context_limited"] = 1
                full_length = bounded_length + knowledge_full
            if window != bounds:
                cut["sentence_windowed"] = 1
        room -= len(sentence)
        object_slots = [[self.object_token_id] + ids for ids in objects]
        kept_objects = len(object_slots)

        def knowledge_length() -> int:
            return len(wikipedia) + len(llm) + len(caption) + sum(len(slot) for slot in object_slots[:kept_objects])

        while kept_objects and knowledge_length() > room:
            kept_objects -= 1
            cut["objects_dropped"] = cut.get("objects_dropped", 0) + 1
        parts = {"wikipedia": wikipedia, "llm": llm, "caption": caption}
        if knowledge_length() > room:
            objects_length = sum(len(slot) for slot in object_slots[:kept_objects])
            shares = fair_shares([len(part) for part in parts.values()], room - objects_length)
            for (name, part), share in zip(list(parts.items()), shares):
                if share < len(part):
                    cut[name] = "shortened" if share else "dropped"
                    parts[name] = part[:share]
        wikipedia, llm, caption = parts["wikipedia"], parts["llm"], parts["caption"]
        objects_ids = [i for slot in object_slots[:kept_objects] for i in slot]
        body = sentence + wikipedia + llm + caption + objects_ids
        if len(fixed) + len(body) + len(self.suffix) < len(fixed) + full_length + len(self.suffix):
            self.stats["prompts_shortened"] += 1
        self.stats.update({key if isinstance(value, int) else f"{key}_{value}": value if isinstance(value, int) else 1
                           for key, value in cut.items()})
        return EncodedPrompt(fixed + body + self.suffix, list(range(kept_objects)), window, cut)

    def _sentence_window(
        self, item: PromptInput, room: int, bounds: tuple[int, int]
    ) -> tuple[tuple[int, int], list[list[int]], int]:
        """The widest word window around the entity within ``bounds`` whose tokens fit ``room``, with
        each window word's ids, and the token length of all of ``bounds``."""
        lower, upper = bounds
        word_ids = self._ids(list(item.words[lower:upper]))  # word_ids[i] holds word lower + i
        start, end = item.start - lower, item.end - lower
        used = sum(len(ids) for ids in word_ids[start:end])
        if used > room:
            raise PromptTooLongError(f"the entity at words {item.start}-{item.end} does not fit next to itself in the sentence")
        grew = True
        while grew:
            grew = False
            if start > 0 and used + len(word_ids[start - 1]) <= room:
                start -= 1
                used += len(word_ids[start])
                grew = True
            if end < len(word_ids) and used + len(word_ids[end]) <= room:
                used += len(word_ids[end])
                end += 1
                grew = True
        return (lower + start, lower + end), word_ids[start:end], sum(len(ids) for ids in word_ids)

