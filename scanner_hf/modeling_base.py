"""What SCANNER's models share: the encoder builder and the ``PreTrainedModel`` base class."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import torch
from torch import nn
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


# ``model.predict``'s implementation, registered by the inference layer (``scanner_hf.prediction``) when it is
# imported, as ``import scanner_hf`` and a checkpoint's pipeline code do: modeling says what a prediction is
# called with, inference how it is made. (Remote code without the package runs through the pipeline: its
# copy of the inference layer is a dynamic module of its own, so it cannot register here.)
_PREDICTORS: dict[str, Callable[..., Any]] = {}


def register_predictor(model_type: str, predictor: Callable[..., Any]) -> None:
    """Make ``predictor(model, *args, **kwargs)`` the ``predict`` of models whose config is ``model_type``."""
    _PREDICTORS[model_type] = predictor


def predictor_for(model_type: str) -> Callable[..., Any]:
    """The registered ``predict`` implementation for ``model_type``."""
    if model_type not in _PREDICTORS:
        raise RuntimeError(
            "model.predict comes from scanner-hf's inference layer: `import scanner_hf` first; without the package "
            "(remote code), use pipeline('scanner-ner', model=..., trust_remote_code=True)"
        )
    return _PREDICTORS[model_type]


class WordFeatureEmbedding(nn.Embedding):
    """A learned embedding per word feature id (a word shape, ``tokenization.WORD_SHAPES``), added to the
    token embeddings at each word's first sub-word: what an uncased encoder cannot see. Starts at zero
    (call :meth:`zero` after ``post_init``), so a new model begins as its pretrained encoder."""

    def __init__(self, vocabulary_size: int, hidden_size: int, name: str):
        super().__init__(vocabulary_size, hidden_size)
        self.feature_name = name

    def zero(self) -> None:
        nn.init.zeros_(self.weight)

    def add_to(self, encoder: PreTrainedModel, input_ids: torch.Tensor | None, inputs_embeds: torch.Tensor | None,
               feature_ids: torch.Tensor | None) -> torch.Tensor:
        """The encoder's input embeddings (or ``inputs_embeds``) plus the features' (``feature_ids`` required)."""
        if feature_ids is None:
            raise ValueError(f"this model was trained with {self.feature_name}: pass {self.feature_name}")
        if inputs_embeds is None:
            inputs_embeds = encoder.get_input_embeddings()(input_ids)
        return inputs_embeds + self(feature_ids)
