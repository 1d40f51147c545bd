"""SCANNER stage 1: the span-candidate detector (an encoder with an untyped B/I/O token classifier, or
a typed one whose spans are decoded the same way and whose types can screen candidates before stage 2).

>>> from scanner_hf import ScannerSpanDetector
>>> detector = ScannerSpanDetector.from_encoder("sentence-transformers/all-MiniLM-L6-v2")  # doctest: +SKIP
>>> spans = detector.predict_spans(["Steve Kerr praises the Warriors"], tokenizer)      # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn
from transformers import AutoConfig, PreTrainedModel, PreTrainedTokenizerBase
from transformers.loss.loss_utils import ForTokenClassification
from transformers.utils import ModelOutput

from .configuration import ScannerSpanDetectorConfig
from .modeling_base import ScannerPreTrainedModel, WordFeatureEmbedding, build_encoder
from .tokenization import (
    WORD_SHAPES,
    Word,
    first_subword_positions,
    first_subword_shapes,
    length_batches,
    split_words,
    subword_counts_many,
    word_windows,
    words_from_tokens,
)


@dataclass
class ScannerSpanDetectorOutput(ModelOutput):
    """Output of :class:`ScannerSpanDetector`.

    Args:
        loss: token-level cross-entropy over the labels (first sub-words only), when labels are given.
        logits: ``(batch, sequence, num_labels)`` scores of ``O``, ``B``, ``I`` (typed: ``O``, ``B-<type>``...,
            ``I-<type>``...).
    """

    loss: torch.Tensor | None = None
    logits: torch.Tensor | None = None
    hidden_states: tuple[torch.Tensor, ...] | None = None
    attentions: tuple[torch.Tensor, ...] | None = None


@dataclass
class DetectedSpan:
    """A candidate span: word range ``[start_word, end_word)``, character offsets and a score; from a
    typed detector also its best type (``label``) and every type's score (see :func:`span_type_scores`)."""

    start_word: int
    end_word: int
    start: int
    end: int
    text: str
    score: float
    label: str | None = None
    type_scores: dict[str, float] | None = None


class ScannerSpanDetector(ScannerPreTrainedModel):
    """Any ``AutoModel`` encoder plus a linear B/I/O head (the paper's stage 1), or a typed BIO head."""

    config_class = ScannerSpanDetectorConfig
    config: ScannerSpanDetectorConfig

    def __init__(self, config: ScannerSpanDetectorConfig, encoder: PreTrainedModel | None = None):
        """``encoder``: a ready encoder (e.g. pretrained) instead of a new random one from the config."""
        super().__init__(config)
        self.encoder = encoder if encoder is not None else build_encoder(config.encoder_config)
        self.dropout = nn.Dropout(config.classifier_dropout)
        self.classifier = nn.Linear(config.encoder_config.hidden_size, config.num_labels)
        # word features start at zero: a new detector begins as its pretrained encoder and learns them
        hidden = config.encoder_config.hidden_size
        self.shape_embeddings = WordFeatureEmbedding(len(WORD_SHAPES), hidden, "word_shape_ids") if config.word_shapes else None
        self.post_init()
        if self.shape_embeddings is not None:
            self.shape_embeddings.zero()

    @classmethod
    def from_encoder(cls, encoder_name_or_path: str, **config_kwargs) -> ScannerSpanDetector:
        """A new detector whose encoder starts from pretrained weights (Hub id or folder)."""
        from .backbones import resolve_backbone

        source = resolve_backbone(encoder_name_or_path)
        config = cls.config_class(encoder_config=AutoConfig.from_pretrained(source), **config_kwargs)
        return cls(config, encoder=build_encoder(config.encoder_config, pretrained=source))

    def get_input_embeddings(self) -> nn.Module:
        return self.encoder.get_input_embeddings()

    def set_input_embeddings(self, value: nn.Module) -> None:
        self.encoder.set_input_embeddings(value)

    def forward(
        self,
        input_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        inputs_embeds: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        word_shape_ids: torch.Tensor | None = None,
        num_items_in_batch: torch.Tensor | int | None = None,
        **kwargs,
    ) -> ScannerSpanDetectorOutput:
        """``num_items_in_batch`` (passed by the Trainer) makes the loss a sum over that many labelled
        tokens, which keeps gradient accumulation exact. ``word_shape_ids`` (see
        :func:`scanner_hf.tokenization.first_subword_shapes`) are required when ``config.word_shapes``."""
        if self.shape_embeddings is not None:
            inputs_embeds = self.shape_embeddings.add_to(self.encoder, input_ids, inputs_embeds, word_shape_ids)
            input_ids = None
        encoder_inputs = {"attention_mask": attention_mask, "inputs_embeds": inputs_embeds, **kwargs}
        if token_type_ids is not None:
            encoder_inputs["token_type_ids"] = token_type_ids
        outputs = self.encoder(input_ids, return_dict=True, **encoder_inputs)
        logits = self.classifier(self.dropout(outputs.last_hidden_state))
        loss = None
        if labels is not None:
            loss = ForTokenClassification(logits, labels, self.config, num_items_in_batch=num_items_in_batch)
        return ScannerSpanDetectorOutput(
            loss=loss, logits=logits, hidden_states=outputs.hidden_states, attentions=outputs.attentions
        )

    @torch.no_grad()
    def predict_word_probabilities(
        self,
        sentences: Sequence[Sequence[str]],
        tokenizer: PreTrainedTokenizerBase,
        *,
        batch_size: int = 32,
        max_length: int | None = None,
        window_overlap: int = 16,
        typed: bool = False,
    ) -> list[torch.Tensor]:
        """``(n_words, 3)`` O/B/I probabilities per word-split sentence (a typed detector's summed over
        types); with ``typed``, ``(n_words, num_labels)``: every label's (see :func:`span_tag_probabilities`).

        Sentences longer than the encoder are cut into overlapping word windows; each word takes its
        probabilities from the window in which it stands farthest from an edge. Windows are batched by
        length (:func:`~.tokenization.length_batches`): texts of mixed lengths carry little padding.
        """
        limit = min(tokenizer.model_max_length, self.config.encoder_config.max_position_embeddings)
        max_length = min(max_length, limit) if max_length else limit
        budget = max_length - tokenizer.num_special_tokens_to_add(pair=False)
        pieces: list[tuple[int, int, int]] = []  # (sentence, start word, end word)
        piece_lengths: list[int] = []  # sub-words of each piece
        for index, (words, counts) in enumerate(zip(sentences, subword_counts_many(tokenizer, sentences))):
            if words:
                for start, end in word_windows(counts, budget, window_overlap):
                    pieces.append((index, start, end))
                    piece_lengths.append(sum(counts[start:end]))
        results = [torch.zeros(len(words), self.config.num_labels) for words in sentences]
        best_margin = [torch.full((len(words),), -1) for words in sentences]
        was_training = self.training
        self.eval()
        try:
            for rows in length_batches(piece_lengths, batch_size):
                batch = [pieces[row] for row in rows]
                encoded = tokenizer(
                    [list(sentences[i][s:e]) for i, s, e in batch],
                    is_split_into_words=True,
                    split_special_tokens=True,
                    padding=True,
                    return_tensors="pt",
                ).to(self.device)
                extra = {}
                if self.config.word_shapes:
                    shapes = [
                        first_subword_shapes(encoded.word_ids(row), sentences[i][s:e]) for row, (i, s, e) in enumerate(batch)
                    ]
                    extra["word_shape_ids"] = torch.tensor(shapes, device=self.device)
                probabilities = self(**encoded, **extra).logits.float().softmax(-1).cpu()
                for row, (index, start, end) in enumerate(batch):
                    for position, word_id in first_subword_positions(encoded.word_ids(row)):
                        word = start + word_id
                        margin = min(word - start, end - 1 - word) if (start > 0 or end < len(sentences[index])) else 0
                        if margin > best_margin[index][word]:
                            best_margin[index][word] = margin
                            results[index][word] = probabilities[row, position]
        finally:
            self.train(was_training)
        return results if typed else [span_tag_probabilities(sentence) for sentence in results]

    def predict_spans(
        self,
        inputs: Sequence[str] | Sequence[Sequence[str]],
        tokenizer: PreTrainedTokenizerBase,
        **kwargs,
    ) -> list[list[DetectedSpan]]:
        """Candidate spans with character offsets for raw strings or pre-tokenised word lists; a typed
        detector's spans also say their type, so it can serve as a tagger on its own."""
        prepared: list[tuple[str, list[Word]]] = [
            (text, split_words(text)) if isinstance(text, str) else words_from_tokens(text) for text in inputs
        ]
        types = self.config.entity_types
        probabilities = self.predict_word_probabilities(
            [[word.text for word in words] for _, words in prepared], tokenizer, typed=bool(types), **kwargs
        )
        found = []
        for (text, words), probs in zip(prepared, probabilities):
            spans = []
            for s, e, score in decode_bio(span_tag_probabilities(probs)):
                span = DetectedSpan(s, e, words[s].start, words[e - 1].end, text[words[s].start : words[e - 1].end], score)
                if types:
                    span.type_scores = span_type_scores(probs, s, e, types)
                    span.label = max(span.type_scores, key=span.type_scores.get)
                spans.append(span)
            found.append(spans)
        return found


def span_tag_probabilities(word_probabilities: torch.Tensor) -> torch.Tensor:
    """``(n_words, 3)`` O/B/I probabilities from a detector's label probabilities: unchanged when
    untyped; a typed detector's ``B-<type>`` columns summed into B and ``I-<type>`` into I."""
    if word_probabilities.shape[-1] == 3:
        return word_probabilities
    types = (word_probabilities.shape[-1] - 1) // 2
    return torch.stack(
        [word_probabilities[:, 0], word_probabilities[:, 1 : 1 + types].sum(-1), word_probabilities[:, 1 + types :].sum(-1)], -1
    )


def span_type_scores(word_probabilities: torch.Tensor, start: int, end: int, entity_types: Sequence[str]) -> dict[str, float]:
    """A typed detector's score of each of its ``entity_types`` for words ``[start, end)``: the mean over
    the words of the type's B and I probabilities (so it is low when the words may not be an entity at all)."""
    count = len(entity_types)
    words = word_probabilities[start:end]
    return dict(zip(entity_types, (words[:, 1 : 1 + count] + words[:, 1 + count :]).mean(0).tolist()))


def decode_bio(word_probabilities: torch.Tensor) -> list[tuple[int, int, float]]:
    """Spans ``(start, end, score)`` from ``(n_words, 3)`` O/B/I probabilities.

    Greedy arg-max decoding; an ``I`` with no open span opens one (lenient, like seqeval's default).
    The score is the mean probability of the chosen tags inside the span.
    """
    tags = word_probabilities.argmax(-1).tolist()
    spans, start = [], None

    def close(end: int) -> None:
        chosen = word_probabilities[torch.arange(start, end), torch.tensor(tags[start:end])]
        spans.append((start, end, float(chosen.mean())))

    for index, tag in enumerate(tags):
        if start is not None and tag != 2:
            close(index)
            start = None
        if tag in (1, 2) and start is None:
            start = index
    if start is not None:
        close(len(tags))
    return spans


def propose_spans(word_probabilities: torch.Tensor, threshold: float | None = None) -> list[tuple[int, int, float]]:
    """Candidate spans ``(start, end, score)``: the arg-max decode (:func:`decode_bio`) plus, with a
    ``threshold``, every span that starts at a word with ``P(B) >= threshold`` and runs over the
    following words with ``P(I) >= threshold`` (each maximal run, and also every shorter run that ends
    where the arg-max decode ends a span). Over-proposal is on purpose: stage 2's ``non-entity``
    class rejects, and overlapping accepted spans are resolved by stage 2's score. It recovers
    entities the arg-max decode misses or cuts (``[The [World Cup]]``, ``[Mrs. [Brozik]]``)."""
    spans = decode_bio(word_probabilities)
    if threshold is None or not len(word_probabilities):
        return spans
    seen = {(start, end) for start, end, _ in spans}
    begin, inside = word_probabilities[:, 1].tolist(), word_probabilities[:, 2].tolist()
    argmax_ends = {end for _, end, _ in spans}
    for start in range(len(begin)):
        if begin[start] < threshold:
            continue
        end = start + 1
        while True:
            if (end == len(inside) or inside[end] < threshold or end in argmax_ends) and (start, end) not in seen:
                scores = [begin[start], *inside[start + 1 : end]]
                spans.append((start, end, sum(scores) / len(scores)))
                seen.add((start, end))
            if end == len(inside) or inside[end] < threshold:
                break
            end += 1
    return sorted(spans)
