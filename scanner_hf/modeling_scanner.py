"""The composite SCANNER model: both stages in one checkpoint (one folder or Hub repo).

Each stage stays a model of its own (``model.span_detector``, ``model.entity_recognizer``) and can
still be saved or loaded alone; the composite adds one config, one tokenizer for both stages and one
``from_pretrained`` for the pipeline. An optional ``model.screener`` (a cheaper, packed stage-2
recogniser) types every candidate first and leaves only the ones it is unsure of to the entity
recogniser (``config.screening_threshold``; see ``scanner_hf.inference.Screening``); with
``config.detector_screening`` a typed span detector's types do that instead.

>>> model = ScannerForMultimodalNER.from_stages(detector, recognizer)   # doctest: +SKIP
>>> model.save_pretrained("scanner-twitter2017")                        # doctest: +SKIP
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
from transformers import PreTrainedTokenizerBase
from transformers.utils import ModelOutput

from .configuration import ScannerConfig
from .inference import Screening
from .modeling_base import ScannerPreTrainedModel
from .modeling_entity_recognizer import ScannerEntityRecognizer
from .modeling_span_detector import ScannerSpanDetector


@dataclass
class ScannerOutput(ModelOutput):
    """Output of :class:`ScannerForMultimodalNER`: whichever stages got inputs.

    Args:
        loss: the sum of the stages' losses that had labels.
        span_logits: stage 1's ``(batch, sequence, 3)`` O/B/I scores (typed detector: its typed BIO labels).
        logits: stage 2's ``(candidates, num_labels)`` type scores.
        overlap_logits / object_mask: stage 2's per-object overlap scores and which slots are real.
    """

    loss: torch.Tensor | None = None
    span_logits: torch.Tensor | None = None
    logits: torch.Tensor | None = None
    overlap_logits: torch.Tensor | None = None
    object_mask: torch.Tensor | None = None


class ScannerForMultimodalNER(ScannerPreTrainedModel):
    """Stage 1 (span-candidate detector) and stage 2 (entity recogniser) of SCANNER."""

    config_class = ScannerConfig
    config: ScannerConfig
    base_model_prefix = "scanner"

    def __init__(
        self,
        config: ScannerConfig,
        span_detector: ScannerSpanDetector | None = None,
        entity_recognizer: ScannerEntityRecognizer | None = None,
        screener: ScannerEntityRecognizer | None = None,
    ):
        """Trained stages may be passed in (see :meth:`from_stages`); missing ones are built from the config."""
        super().__init__(config)
        self.span_detector = span_detector if span_detector is not None else ScannerSpanDetector(config.span_detector_config)
        self.entity_recognizer = (
            entity_recognizer if entity_recognizer is not None else ScannerEntityRecognizer(config.entity_recognizer_config)
        )
        if screener is None and config.screener_config is not None:
            screener = ScannerEntityRecognizer(config.screener_config)
        self.screener = screener
        self.post_init()

    @classmethod
    def from_stages(
        cls,
        span_detector: ScannerSpanDetector,
        entity_recognizer: ScannerEntityRecognizer,
        screener: ScannerEntityRecognizer | None = None,
        **config_kwargs,
    ) -> ScannerForMultimodalNER:
        """Combine trained stages (and optionally a screener). All must read the stage-2 tokenizer (same
        backbone vocabulary plus ``<obj>``): stage 1's embeddings are grown to match (the new row is
        never used); a screener must have the entity recogniser's vocabulary."""
        vocab_size = entity_recognizer.config.encoder_config.vocab_size
        if screener is not None and screener.config.encoder_config.vocab_size != vocab_size:
            raise ValueError(
                f"the screener's vocabulary ({screener.config.encoder_config.vocab_size}) differs from the entity recogniser's ({vocab_size})"
            )
        detector_vocab = span_detector.config.encoder_config.vocab_size
        if detector_vocab > vocab_size:
            raise ValueError(f"stage 1 has a larger vocabulary ({detector_vocab}) than stage 2 ({vocab_size})")
        if detector_vocab < vocab_size:
            span_detector.resize_token_embeddings(vocab_size, mean_resizing=False)
            span_detector.config.encoder_config.vocab_size = vocab_size
        # copies: building the composite resets its sub-configs' attention settings, which must not
        # reach the trained stages (their encoders would lose their attention implementation)
        config = cls.config_class(
            span_detector_config=copy.deepcopy(span_detector.config),
            entity_recognizer_config=copy.deepcopy(entity_recognizer.config),
            screener_config=copy.deepcopy(screener.config) if screener is not None else None,
            **config_kwargs,
        )
        return cls(config, span_detector=span_detector, entity_recognizer=entity_recognizer, screener=screener).eval()

    def screening(
        self, tokenizer: PreTrainedTokenizerBase, *, threshold: float | None = None, max_context_words: int | None = None
    ) -> Screening | None:
        """How inference screens candidates with this checkpoint's screener or typed span detector
        (None: it screens with neither), at ``threshold`` (default: the checkpoint's ``screening_threshold``)."""
        threshold = self.config.screening_threshold if threshold is None else threshold
        builder = self.screener.prompt_builder(tokenizer, max_context_words=max_context_words) if self.screener is not None else None
        return Screening.chosen(self.screener, builder, self.config.detector_screening, threshold)

    def forward(
        self,
        input_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        span_labels: torch.Tensor | None = None,
        word_shape_ids: torch.Tensor | None = None,
        prompt_input_ids: torch.Tensor | None = None,
        prompt_attention_mask: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        iou_targets: torch.Tensor | None = None,
        prompt_position_ids: torch.Tensor | None = None,
        prompt_candidate_ids: torch.Tensor | None = None,
        **kwargs,
    ) -> ScannerOutput:
        """Stage 1 on ``input_ids`` (the sentence) and/or stage 2 on ``prompt_input_ids`` (one prompt
        per candidate, or packed sequences with ``prompt_position_ids`` and ``prompt_candidate_ids``,
        see ``scanner_hf.packing``); each stage's loss is computed when its labels are given."""
        if input_ids is None and prompt_input_ids is None:
            raise ValueError("give input_ids (stage 1), prompt_input_ids (stage 2) or both")
        output = ScannerOutput()
        losses = []
        if input_ids is not None:
            detected = self.span_detector(
                input_ids=input_ids, attention_mask=attention_mask, labels=span_labels, word_shape_ids=word_shape_ids
            )
            output.span_logits = detected.logits
            losses += [detected.loss] if detected.loss is not None else []
        if prompt_input_ids is not None:
            recognized = self.entity_recognizer(
                input_ids=prompt_input_ids, attention_mask=prompt_attention_mask, labels=labels, iou_targets=iou_targets,
                position_ids=prompt_position_ids, candidate_ids=prompt_candidate_ids,
            )
            output.logits = recognized.logits
            output.overlap_logits = recognized.overlap_logits
            output.object_mask = recognized.object_mask
            losses += [recognized.loss] if recognized.loss is not None else []
        output.loss = sum(losses) if losses else None
        return output
