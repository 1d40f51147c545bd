"""Configurations of SCANNER's models (transformers v5 composite configs).

The encoder's own config is nested as a proper sub-config (``encoder_config``), resolved through
``AutoConfig`` by its ``model_type``, as ``LlavaConfig`` nests its text and vision configs. Nothing
falls back into the encoder config by attribute lookup.
"""

from __future__ import annotations

from transformers import AutoConfig, PreTrainedConfig
from transformers.configuration_utils import SubConfigSpec

SPAN_TAGS: tuple[str, ...] = ("O", "B", "I")


class ScannerSpanDetectorConfig(PreTrainedConfig):
    r"""Configuration of SCANNER's stage 1: an encoder with an untyped B/I/O token classifier.

    Args:
        encoder_config: the encoder's config (a ``PreTrainedConfig`` or its dict with ``model_type``);
            default a BERT config.
        classifier_dropout: dropout before the B/I/O head.

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

    def __post_init__(self, **kwargs):
        kwargs.pop("num_labels", None)
        self.id2label = dict(enumerate(SPAN_TAGS))
        self.label2id = {tag: index for index, tag in enumerate(SPAN_TAGS)}
        super().__post_init__(**kwargs)
