"""The composite SCANNER model: both stages in one checkpoint (one folder or Hub repo).

Each stage stays a model of its own (``model.span_detector``, ``model.entity_recognizer``) and can
still be saved or loaded alone; the composite adds one config, one tokenizer for both stages and one
``from_pretrained`` for the pipeline. With ``config.stage1_screening`` a typed span detector's types
are the first answer, and stage 2 types only the candidates below ``config.screening_threshold``
(see ``scanner_hf.inference.Screening``).

>>> model = ScannerForMultimodalNER.from_encoder("sentence-transformers/all-MiniLM-L6-v2", entity_types=["PER", "LOC"])  # doctest: +SKIP
>>> model = ScannerForMultimodalNER.from_pretrained("scanner-twitter2017")   # doctest: +SKIP
>>> model.predict(["Steve Kerr praises the Warriors"])                       # doctest: +SKIP
[[{'entity_group': 'PER', 'score': 0.99, 'word': 'Steve Kerr', 'start': 0, 'end': 10}, ...]]
"""

from __future__ import annotations

import copy
import dataclasses
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from transformers import AutoTokenizer, PreTrainedTokenizerBase
from transformers.utils import ModelOutput

from .configuration import ScannerConfig
from .modeling_base import ScannerPreTrainedModel, predictor_for
from .modeling_entity_recognizer import ScannerEntityRecognizer
from .modeling_span_detector import ScannerSpanDetector
from .tokenization import lowercases

logger = logging.getLogger(__name__)

# from_encoder's settings that belong to one stage's config; the rest are ScannerConfig's own
SPAN_DETECTOR_SETTINGS = ("word_shapes", "classifier_dropout")
ENTITY_RECOGNIZER_SETTINGS = ("max_objects", "grounding_weight")
PROCESSOR_SETTINGS = ("stage1_max_length", "max_prompt_length", "max_context_words")  # ScannerProcessor's
DEFAULT_CANDIDATE_THRESHOLD = 0.2  # stage 1 over-proposes and stage 2's non-entity class rejects: +0.16 F1, +0.67 unseen (Twitter-2017)
DEFAULT_MAX_CONTEXT_WORDS = 40  # documents: 2.7x faster and +0.7 F1; tweets are shorter, so unchanged
HUB_LOADING_KWARGS = ("cache_dir", "force_download", "local_files_only", "token", "revision", "subfolder", "trust_remote_code")


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
    ):
        """Trained stages may be passed in (see :meth:`from_stages`); missing ones are built from the config."""
        super().__init__(config)
        self.span_detector = span_detector if span_detector is not None else ScannerSpanDetector(config.span_detector_config)
        self.entity_recognizer = (
            entity_recognizer if entity_recognizer is not None else ScannerEntityRecognizer(config.entity_recognizer_config)
        )
        # the ScannerProcessor (the tokenizer both stages read, stage 1's window, stage 2's prompts); set by
        # from_encoder and from_pretrained, saved by save_pretrained; model.predict needs it
        self.processor = None
        self._default_providers: list | None = None
        self.post_init()

    @classmethod
    def from_encoder(cls, backbone: str, entity_types: Sequence[str], **config_kwargs) -> ScannerForMultimodalNER:
        """The untrained composite on a pretrained encoder (Hub id or folder) for ``entity_types``: both
        stages start from ``backbone``, and ``model.processor`` holds its tokenizer with ``<obj>`` added.
        ``config_kwargs`` are settings of :class:`ScannerConfig` (``knowledge``, ``candidate_threshold``,
        ``stage1_screening``, ...), of stage 1 (``word_shapes``), of stage 2 (``max_objects``,
        ``grounding_weight``) or of the processor (``stage1_max_length``, ``max_prompt_length``,
        ``max_context_words``).
        ``stage1_screening=True`` gives stage 1 a typed head over the same ``entity_types``.
        Defaults are the best measured system: ``word_shapes`` on when the backbone's tokenizer
        lowercases, ``candidate_threshold=0.2`` (over-proposal), ``max_context_words=40``.

        >>> model = ScannerForMultimodalNER.from_encoder("sentence-transformers/all-MiniLM-L6-v2",  # doctest: +SKIP
        ...     entity_types=["PER", "LOC", "ORG", "OTHER"], word_shapes=True)
        """
        from .backbones import resolve_backbone
        from .processing_scanner import (
            ScannerProcessor,  # the layer above modeling: loaded when used
        )

        entity_types = list(entity_types)
        if not entity_types:
            raise ValueError("from_encoder needs the entity types, e.g. entity_types=['PER', 'LOC', 'ORG', 'OTHER']")
        detector_kwargs = {key: config_kwargs.pop(key) for key in SPAN_DETECTOR_SETTINGS if key in config_kwargs}
        recognizer_kwargs = {key: config_kwargs.pop(key) for key in ENTITY_RECOGNIZER_SETTINGS if key in config_kwargs}
        processor_kwargs = {key: config_kwargs.pop(key) for key in PROCESSOR_SETTINGS if key in config_kwargs}
        known = {f.name for f in dataclasses.fields(cls.config_class)} - {"span_detector_config", "entity_recognizer_config"}
        unknown = sorted(set(config_kwargs) - known)
        if unknown:
            settings = sorted(known | set(SPAN_DETECTOR_SETTINGS) | set(ENTITY_RECOGNIZER_SETTINGS) | set(PROCESSOR_SETTINGS))
            raise TypeError(f"unknown settings {unknown} for from_encoder; known: {settings}")
        source = resolve_backbone(backbone)
        tokenizer = AutoTokenizer.from_pretrained(source)
        # the best measured system by default (benchmarks/RESULTS.md, "Default system"); None keeps arg-max / all words
        config_kwargs.setdefault("candidate_threshold", DEFAULT_CANDIDATE_THRESHOLD)
        processor_kwargs.setdefault("max_context_words", DEFAULT_MAX_CONTEXT_WORDS)
        if detector_kwargs.get("word_shapes") is None:
            detector_kwargs["word_shapes"] = lowercases(tokenizer)
            logger.info("word_shapes=%s: the tokenizer of %s %s", detector_kwargs["word_shapes"], backbone,
                        "lowercases, so stage 1 sees each word's shape" if detector_kwargs["word_shapes"] else "keeps case")
        processor = ScannerProcessor(tokenizer, **processor_kwargs)  # settings checked before any weights load
        typed = entity_types if config_kwargs.get("stage1_screening") else None
        detector = ScannerSpanDetector.from_encoder(backbone, entity_types=typed, **detector_kwargs)
        recognizer = ScannerEntityRecognizer.from_encoder(backbone, tokenizer, entity_types=entity_types, **recognizer_kwargs)
        # a local folder is named by its name only: a checkpoint's config must not carry this machine's paths
        config_kwargs.setdefault("backbone", Path(backbone).name if Path(backbone).exists() else backbone)
        model = cls.from_stages(detector, recognizer, **config_kwargs)
        model.processor = processor
        return model

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, *args, **kwargs) -> ScannerForMultimodalNER:
        """As ``PreTrainedModel.from_pretrained``, and the checkpoint's processor as ``model.processor``."""
        from .processing_scanner import ScannerProcessor

        model = super().from_pretrained(pretrained_model_name_or_path, *args, **kwargs)
        loading = {key: kwargs[key] for key in HUB_LOADING_KWARGS if key in kwargs}
        try:
            model.processor = ScannerProcessor.from_pretrained(pretrained_model_name_or_path, **loading)
        except (OSError, ValueError) as error:
            logger.warning("%s has no tokenizer (%s): model.predict needs one (set model.tokenizer)", pretrained_model_name_or_path, error)
        return model

    @property
    def tokenizer(self) -> PreTrainedTokenizerBase | None:
        """The tokenizer both stages read (the processor's)."""
        return self.processor.tokenizer if self.processor is not None else None

    @tokenizer.setter
    def tokenizer(self, tokenizer: PreTrainedTokenizerBase | None) -> None:
        """A tokenizer alone gets a processor with the default settings; ``None`` removes the processor."""
        from .processing_scanner import ScannerProcessor

        if tokenizer is None:
            self.processor = None
        elif self.processor is None:
            self.processor = ScannerProcessor(tokenizer)
        else:
            self.processor.tokenizer = tokenizer

    def save_pretrained(self, save_directory, *args, **kwargs) -> None:
        """As ``PreTrainedModel.save_pretrained``, with ``model.processor`` (tokenizer and settings) beside the weights."""
        super().save_pretrained(save_directory, *args, **kwargs)
        if self.processor is not None and kwargs.get("is_main_process", True):
            self.processor.save_pretrained(save_directory)

    def predict(
        self,
        inputs: str | dict | Sequence[str | dict | Sequence[str]],
        images: Any | Sequence[Any] | None = None,
        knowledge: Any | Sequence[Any] | None = None,
        **options: Any,
    ) -> list[dict] | list[list[dict]]:
        """The entities of each input (a text, words, a dict, or a list of these), as the ``scanner-ner``
        pipeline returns them; ``images`` and ``knowledge`` go with the inputs, and the ``options``
        (``return_knowledge``, ``batch_size``, ``providers``, ...) are :func:`scanner_hf.prediction.predict`'s."""
        # implemented by the inference layer (scanner_hf.prediction.predict), which registers it on import
        return predictor_for(self.config.model_type)(self, inputs, images, knowledge, **options)

    @classmethod
    def from_stages(
        cls,
        span_detector: ScannerSpanDetector,
        entity_recognizer: ScannerEntityRecognizer,
        **config_kwargs,
    ) -> ScannerForMultimodalNER:
        """Combine trained stages. Both must read the stage-2 tokenizer (same backbone vocabulary plus
        ``<obj>``): stage 1's embeddings are grown to match (the new row is never used)."""
        vocab_size = entity_recognizer.config.encoder_config.vocab_size
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
            **config_kwargs,
        )
        return cls(config, span_detector=span_detector, entity_recognizer=entity_recognizer).eval()

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
        **kwargs,
    ) -> ScannerOutput:
        """Stage 1 on ``input_ids`` (the sentence) and/or stage 2 on ``prompt_input_ids`` (one prompt
        per candidate); each stage's loss is computed when its labels are given."""
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
            )
            output.logits = recognized.logits
            output.overlap_logits = recognized.overlap_logits
            output.object_mask = recognized.object_mask
            losses += [recognized.loss] if recognized.loss is not None else []
        output.loss = sum(losses) if losses else None
        return output
