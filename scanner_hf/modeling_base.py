"""What SCANNER's models share: the encoder builder and the ``PreTrainedModel`` base class."""

from __future__ import annotations

import inspect

from transformers import AutoModel, PreTrainedConfig, PreTrainedModel
from transformers.models.auto.modeling_auto import MODEL_MAPPING


def build_encoder(encoder_config: PreTrainedConfig, pretrained: str | None = None) -> PreTrainedModel:
    """The bare encoder for ``encoder_config`` (random, or from ``pretrained``), without a pooler
    where the architecture has one: an unused pooler would hold parameters that get no gradient."""
    encoder_class = MODEL_MAPPING[type(encoder_config)]
    kwargs = {"add_pooling_layer": False} if "add_pooling_layer" in inspect.signature(encoder_class.__init__).parameters else {}
    if pretrained is None:
        return AutoModel.from_config(encoder_config, **kwargs)
    return AutoModel.from_pretrained(pretrained, config=encoder_config, **kwargs)


class ScannerPreTrainedModel(PreTrainedModel):
    """Base of both stages: an ``encoder`` (any ``AutoModel`` architecture) with small heads on top;
    attention implementations and gradient checkpointing are the encoder's."""

    base_model_prefix = "encoder"
    supports_gradient_checkpointing = True
    _supports_sdpa = True
    _supports_flash_attn = True
