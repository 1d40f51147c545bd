"""Configurations of SCANNER's models (transformers v5 composite configs).

The encoder's own config is nested as a proper sub-config (``encoder_config``), resolved through
``AutoConfig`` by its ``model_type``, as ``LlavaConfig`` nests its text and vision configs. Nothing
falls back into the encoder config by attribute lookup.
"""

from __future__ import annotations

import os
from pathlib import Path

from transformers import AutoConfig, PreTrainedConfig
from transformers.configuration_utils import SubConfigSpec
from transformers.utils import logging

logger = logging.get_logger(__name__)

SPAN_TAGS: tuple[str, ...] = ("O", "B", "I")
# True in the installed package, False in the copy transformers loads from a checkpoint (remote code)
_LOADED_FROM_INSTALLED_PACKAGE = __name__.split(".")[0] == "scanner_hf"


class ScannerSpanDetectorConfig(PreTrainedConfig):
    r"""Configuration of SCANNER's stage 1: an encoder with an untyped B/I/O token classifier (or a typed
    one, whose spans are still decoded from B/I/O: a type's B and I probabilities summed).

    Args:
        encoder_config: the encoder's config (a ``PreTrainedConfig`` or its dict with ``model_type``);
            default a BERT config.
        classifier_dropout: dropout before the B/I/O head.
        word_shapes: add a learned word-shape embedding (capitalisation, digits, ``#``/``@``, ...) at
            each word's first sub-word: what an uncased backbone cannot see. Off for cased backbones.
        entity_types: ``None`` (the paper: untyped B/I/O) or the entity types of a typed detector, whose
            labels are ``O``, ``B-<type>``..., ``I-<type>``...: it proposes the same kind of spans, and
            its type for each one can screen candidates before stage 2 (``ScannerConfig.stage1_screening``).

    >>> from transformers import BertConfig
    >>> config = ScannerSpanDetectorConfig(encoder_config=BertConfig(hidden_size=32, num_hidden_layers=1,
    ...     num_attention_heads=2, intermediate_size=37))
    >>> config.id2label
    {0: 'O', 1: 'B', 2: 'I'}
    """

    model_type = "scanner_span_detector"
    sub_configs_defaults = {"encoder_config": SubConfigSpec(config_class=AutoConfig, model_type="bert")}

    encoder_config: dict | PreTrainedConfig | None = None
    classifier_dropout: float = 0.1
    word_shapes: bool = False
    entity_types: list[str] | None = None

    def __post_init__(self, **kwargs):
        kwargs.pop("num_labels", None)
        refuse_removed(kwargs, {"kb_features": (False,)}, STAGE1_KNOWLEDGE_REMOVED)
        for key in ("kb_features", "kb_feature_dropout", "kb_common_words"):
            kwargs.pop(key, None)
        if self.entity_types is not None:
            self.entity_types = list(self.entity_types)
            if not self.entity_types or len(set(self.entity_types)) < len(self.entity_types):
                raise ValueError(f"entity_types must be distinct types, not {self.entity_types!r}")
        labels = typed_span_tags(self.entity_types) if self.entity_types else SPAN_TAGS
        self.id2label = dict(enumerate(labels))
        self.label2id = {tag: index for index, tag in enumerate(labels)}
        super().__post_init__(**kwargs)


def typed_span_tags(entity_types: list[str]) -> tuple[str, ...]:
    """A typed detector's labels: ``O``, then ``B-`` of each type, then ``I-`` of each type."""
    return ("O", *(f"B-{t}" for t in entity_types), *(f"I-{t}" for t in entity_types))


NON_ENTITY = "non-entity"
INFERENCE_OPTIMIZATIONS = ("none", "int8", "bf16", "onnx", "onnx-int8")  # see scanner_hf.optimization

# Options of scanner-hf 0.1 that measured worse and were removed in 0.2 (benchmarks/RESULTS.md keeps
# their numbers): a checkpoint that uses one is refused with this message rather than run differently.
REMOVED_IN_0_2 = "was removed in scanner-hf 0.2 (it measured worse; benchmarks/RESULTS.md); load this checkpoint with scanner-hf 0.1"
# Stage-1 knowledge (KB features and KB candidates) was tried after 0.2 and removed before a release: it did
# not beat the default system (benchmarks/RESULTS.md, "Stage-1 knowledge")
STAGE1_KNOWLEDGE_REMOVED = (
    "was removed before scanner-hf 0.3 (stage-1 knowledge did not beat the default system: benchmarks/RESULTS.md, "
    "'Stage-1 knowledge'); retrain without it"
)


def moved_to_processor(config: dict, keys: tuple[str, ...]) -> None:
    """Take out settings that 0.1 kept in the model config and 0.2 keeps in ``ScannerProcessor``: a 0.1
    checkpoint's values are read from its config.json by ``ScannerProcessor.from_pretrained``; a value given
    here is not used, which one warning says."""
    for key in keys:
        if key in config:
            logger.warning(
                f"{key} is a ScannerProcessor setting since scanner-hf 0.2, not a model config's: the value here is not used "
                "(a 0.1 checkpoint's is read by ScannerProcessor.from_pretrained; give it to from_encoder or ScannerProcessor)"
            )
            config.pop(key)


def refuse_removed(config: dict, removed: dict, reason: str = REMOVED_IN_0_2) -> None:
    """Raise for a saved setting whose value needs code that this version no longer has."""
    for key, inactive in removed.items():
        if key in config and config[key] not in inactive:
            raise ValueError(f"this checkpoint sets {key}={config[key]!r}, which {reason}")


def cache_root() -> Path:
    """Where scanner-hf keeps what it builds once and reuses (entity KBs, exported ONNX graphs):
    ``$SCANNER_HF_CACHE``, default ``~/.cache/scanner_hf``."""
    return Path(os.environ.get("SCANNER_HF_CACHE", Path.home() / ".cache" / "scanner_hf")).expanduser()


class ScannerEntityRecognizerConfig(PreTrainedConfig):
    r"""Configuration of SCANNER's stage 2: one prompt per candidate, classified at its ``<mask>`` into
    the entity types or ``non-entity``, with an overlap (IoU) score per ``<obj>`` slot.

    Args:
        encoder_config: the encoder's config (sub-config, resolved through ``AutoConfig``).
        entity_types: the entity types; the labels are these plus ``non-entity`` (last).
        max_objects: objects per prompt (the paper: 15 for MNER, 18 for GMNER).
        grounding_weight: lambda, the weight of the grounding BCE (1 for GMNER, 0 for NER/MNER).
        mask_token_id / object_token_id: the slot tokens (set from the tokenizer).
        classifier_dropout: dropout before both heads.

    >>> config = ScannerEntityRecognizerConfig(entity_types=["PER", "LOC"])
    >>> config.id2label
    {0: 'PER', 1: 'LOC', 2: 'non-entity'}
    """

    model_type = "scanner_entity_recognizer"
    sub_configs_defaults = {"encoder_config": SubConfigSpec(config_class=AutoConfig, model_type="bert")}

    encoder_config: dict | PreTrainedConfig | None = None
    entity_types: list[str] | None = None
    max_objects: int = 15
    grounding_weight: float = 0.0
    mask_token_id: int | None = None
    object_token_id: int | None = None
    classifier_dropout: float = 0.1

    def __post_init__(self, **kwargs):
        kwargs.pop("num_labels", None)
        refuse_removed(kwargs, {"packed_candidates": (False,), "prompt_head": ("template",), "word_shapes": (False,)})
        for key in ("packed_candidates", "prompt_head", "word_shapes", "max_pack_tokens"):
            kwargs.pop(key, None)  # 0.1's settings at their inactive values
        moved_to_processor(kwargs, ("max_prompt_length", "max_context_words"))
        self.entity_types = list(self.entity_types or ["LOC", "ORG", "OTHER", "PER"])
        if NON_ENTITY in self.entity_types:
            raise ValueError(f"{NON_ENTITY!r} is added to the labels by itself; do not list it in entity_types")
        labels = self.entity_types + [NON_ENTITY]
        self.id2label = dict(enumerate(labels))
        self.label2id = {label: index for index, label in enumerate(labels)}
        super().__post_init__(**kwargs)

    @property
    def non_entity_id(self) -> int:
        return len(self.entity_types)


DEFAULT_SCREENING_THRESHOLD = 0.9  # stage 1's type probability from which its type is kept (before one is tuned)


def check_screening_threshold(value) -> float:
    """A screening threshold is a probability."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
        raise ValueError(f"screening_threshold must be a probability between 0 and 1, not {value!r}")
    return float(value)


class ScannerConfig(PreTrainedConfig):
    r"""The whole SCANNER system in one checkpoint: both stages as sub-configs plus the knowledge settings.

    Args:
        span_detector_config: stage 1's :class:`ScannerSpanDetectorConfig`.
        entity_recognizer_config: stage 2's :class:`ScannerEntityRecognizerConfig`.
        knowledge: which knowledge providers the pipeline builds by default (e.g. ``{"captions":
            "blip2.txt"}``); precomputed knowledge passed with an input always wins.
        box_threshold: minimum overlap score for a predicted box; below it the entity is ungrounded.
        candidate_threshold: stage 1's proposal threshold (``None``: arg-max decode only; a probability:
            also the spans whose begin/inside probabilities pass it, see ``propose_spans``).
        optimize: how the pipeline runs the saved fp32 weights: ``none``, ``int8``
            (dynamic quantisation), ``onnx`` / ``onnx-int8`` (ONNX Runtime) or ``bf16`` (see
            ``scanner_hf.optimization``).
        stage1_screening: a typed span detector (``span_detector_config.entity_types``) screens: a
            candidate whose type stage 1 gives at least ``screening_threshold`` keeps it, and stage 2
            types only the others (see ``scanner_hf.inference.Screening``). Costs no extra encoder pass.
        screening_threshold: stage 1's type probability from which its type is kept.
        backbone: the encoder both stages were built from (a Hub id, or a local folder's name), for the
            model card.
    """

    model_type = "scanner"
    sub_configs_defaults = {
        "span_detector_config": SubConfigSpec(config_class=ScannerSpanDetectorConfig),
        "entity_recognizer_config": SubConfigSpec(config_class=ScannerEntityRecognizerConfig),
    }

    span_detector_config: dict | PreTrainedConfig | None = None
    entity_recognizer_config: dict | PreTrainedConfig | None = None
    knowledge: dict | None = None
    box_threshold: float = 0.5
    candidate_threshold: float | None = None
    optimize: str = "none"
    screening_threshold: float = DEFAULT_SCREENING_THRESHOLD
    stage1_screening: bool = False
    backbone: str | None = None

    def __post_init__(self, **kwargs):
        refuse_removed(kwargs, {"screener_config": (None,)})
        refuse_removed(kwargs, {"kb_candidates": (False,)}, STAGE1_KNOWLEDGE_REMOVED)
        for key in ("screener_config", "kb_candidates"):
            kwargs.pop(key, None)
        moved_to_processor(kwargs, ("stage1_max_length",))
        if "inference_optimization" in kwargs:  # 0.1's name of the same setting (the pipeline's optimize=)
            self.optimize = kwargs.pop("inference_optimization")
        if "detector_screening" in kwargs:  # 0.1's name of the same setting
            self.stage1_screening = bool(kwargs.pop("detector_screening"))
        if self.optimize not in INFERENCE_OPTIMIZATIONS:
            raise ValueError(
                f"optimize must be one of {', '.join(INFERENCE_OPTIMIZATIONS)}, got {self.optimize!r}"
            )
        check_screening_threshold(self.screening_threshold)
        self._saved_pipelines = kwargs.pop("custom_pipelines", None)
        super().__post_init__(**kwargs)
        if self.stage1_screening:
            self.check_stage1_screening()

    def check_stage1_screening(self) -> None:
        """Screening by stage 1 needs a typed detector whose types stage 2 knows, and no grounding
        (stage 1's types come without boxes)."""
        types, recognizer = self.span_detector_config.entity_types, self.entity_recognizer_config
        if not types:
            raise ValueError("stage1_screening needs a typed span detector (span_detector_config.entity_types)")
        if set(types) - set(recognizer.entity_types):
            raise ValueError(f"the span detector's types {types} are not all the entity recogniser's {recognizer.entity_types}")
        if recognizer.grounding_weight > 0:
            raise ValueError("stage 1's types come without boxes: stage1_screening cannot go with a grounding entity recogniser")

    # A saved checkpoint names its pipeline code (``custom_pipelines``) so that
    # ``pipeline("scanner-ner", model=..., trust_remote_code=True)`` works where scanner-hf is not
    # installed. Where it is installed, "scanner-ner" is registered with PIPELINE_REGISTRY, and showing
    # transformers the custom pipeline would make it demand trust_remote_code for our own code; so the
    # installed package's config reports none, and still writes them back when saving.
    @property
    def custom_pipelines(self) -> dict:
        return {} if _LOADED_FROM_INSTALLED_PACKAGE else dict(self._saved_pipelines or {})

    @custom_pipelines.setter
    def custom_pipelines(self, value: dict) -> None:
        self._saved_pipelines = value

    def to_dict(self) -> dict:
        output = super().to_dict()
        output.pop("_saved_pipelines", None)
        if self._saved_pipelines:
            output["custom_pipelines"] = self._saved_pipelines
        return output
