"""SCANNER stage 2: the entity recogniser.

Each candidate's prompt (see :mod:`scanner_hf.prompting`) is encoded once; the ``<mask>``
representation is classified into the entity types or ``non-entity``, and each ``<obj>``
representation predicts, through a sigmoid, the overlap (IoU) of that object with the entity's box.
Loss: ``CE(type) + grounding_weight * BCE(overlap, IoU)``, both averaged over candidates, the grounding
part summed over each candidate's real objects.

>>> from scanner_hf import ScannerEntityRecognizer
>>> model = ScannerEntityRecognizer.from_encoder(backbone, tokenizer, entity_types=["PER", "LOC"])  # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from transformers import AutoConfig, PreTrainedModel, PreTrainedTokenizerBase
from transformers.loss.loss_utils import fixed_cross_entropy
from transformers.utils import ModelOutput

from .configuration import ScannerEntityRecognizerConfig
from .modeling_base import ScannerPreTrainedModel, build_encoder
from .tokenization import add_object_token


@dataclass
class ScannerEntityRecognizerOutput(ModelOutput):
    """Output of :class:`ScannerEntityRecognizer`.

    Args:
        loss: ``classification_loss + grounding_weight * grounding_loss`` when labels are given.
        logits: ``(batch, num_labels)`` type scores at the ``<mask>`` slot (last label: ``non-entity``).
        overlap_logits: ``(batch, max_objects)`` overlap scores before the sigmoid, one per ``<obj>`` slot.
        object_mask: ``(batch, max_objects)`` which slots hold a real object.
    """

    loss: torch.Tensor | None = None
    logits: torch.Tensor | None = None
    overlap_logits: torch.Tensor | None = None
    object_mask: torch.Tensor | None = None
    classification_loss: torch.Tensor | None = None
    grounding_loss: torch.Tensor | None = None
    hidden_states: tuple[torch.Tensor, ...] | None = None
    attentions: tuple[torch.Tensor, ...] | None = None


class ScannerEntityRecognizer(ScannerPreTrainedModel):
    """An encoder with a type head on ``<mask>`` and an overlap head on each ``<obj>`` (the paper's stage 2)."""

    config_class = ScannerEntityRecognizerConfig
    config: ScannerEntityRecognizerConfig
    def __init__(self, config: ScannerEntityRecognizerConfig, encoder: PreTrainedModel | None = None):
        """``encoder``: a ready encoder (e.g. pretrained) instead of a new random one from the config."""
        super().__init__(config)
        self.encoder = encoder if encoder is not None else build_encoder(config.encoder_config)
        hidden_size = config.encoder_config.hidden_size
        self.dropout = nn.Dropout(config.classifier_dropout)
        self.classifier = nn.Linear(hidden_size, config.num_labels)
        self.grounding_head = nn.Linear(hidden_size, 1)
        self.post_init()

    @classmethod
    def from_encoder(cls, encoder_name_or_path: str, tokenizer: PreTrainedTokenizerBase, **config_kwargs) -> ScannerEntityRecognizer:
        """A new recogniser on a pretrained encoder (Hub id or folder). Adds ``<obj>`` to ``tokenizer``
        (in place) and sizes the embeddings to it; save that tokenizer with the model."""
        from .backbones import resolve_backbone

        source = resolve_backbone(encoder_name_or_path)
        encoder_config = AutoConfig.from_pretrained(source)
        object_token_id = add_object_token(tokenizer)
        config = cls.config_class(
            encoder_config=encoder_config,
            mask_token_id=tokenizer.mask_token_id,
            object_token_id=object_token_id,
            **config_kwargs,
        )
        model = cls(config, encoder=build_encoder(config.encoder_config, pretrained=source))
        model.resize_encoder_embeddings(len(tokenizer))
        return model

    def resize_encoder_embeddings(self, vocab_size: int) -> None:
        """Resize the encoder's token embeddings and record the size in the nested encoder config."""
        self.encoder.resize_token_embeddings(vocab_size)
        self.config.encoder_config.vocab_size = vocab_size

    def get_input_embeddings(self) -> nn.Module:
        return self.encoder.get_input_embeddings()

    def set_input_embeddings(self, value: nn.Module) -> None:
        self.encoder.set_input_embeddings(value)

    def _slot_positions(self, input_ids: torch.Tensor) -> tuple[torch.Tensor, tuple[torch.Tensor, ...]]:
        is_mask = input_ids == self.config.mask_token_id
        if not bool(is_mask.any(-1).all()):
            raise ValueError("every prompt needs the mask token (build prompts with scanner_hf.prompting.PromptBuilder)")
        mask_positions = is_mask.int().argmax(-1)  # the first <mask> of each row
        if self.config.object_token_id is None:  # a text-only recogniser built without the <obj> token
            is_object = torch.zeros_like(input_ids, dtype=torch.bool)
        else:
            is_object = input_ids == self.config.object_token_id
        slots = is_object.long().cumsum(-1) - 1
        rows, positions = (is_object & (slots < self.config.max_objects)).nonzero(as_tuple=True)
        return mask_positions, (rows, positions, slots[rows, positions])

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        iou_targets: torch.Tensor | None = None,
        num_items_in_batch: torch.Tensor | int | None = None,
        **kwargs,
    ) -> ScannerEntityRecognizerOutput:
        """``labels``: ``(batch,)`` label ids; ``iou_targets``: ``(batch, max_objects)`` gold IoU per
        object slot, negative for padding. ``num_items_in_batch`` (from the Trainer) turns the type loss
        into a sum over that many candidates, which keeps gradient accumulation exact."""
        encoder_inputs = {"attention_mask": attention_mask, **kwargs}
        if token_type_ids is not None:
            encoder_inputs["token_type_ids"] = token_type_ids
        hidden = self.encoder(input_ids, return_dict=True, **encoder_inputs)
        states = hidden.last_hidden_state
        mask_positions, (rows, positions, slots) = self._slot_positions(input_ids)
        batch = torch.arange(states.shape[0], device=states.device)
        logits = self.classifier(self.dropout(states[batch, mask_positions]))

        max_objects = self.config.max_objects
        object_states = states.new_zeros(states.shape[0], max_objects, states.shape[-1])
        object_states[rows, slots] = states[rows, positions]
        object_mask = torch.zeros(states.shape[0], max_objects, dtype=torch.bool, device=states.device)
        object_mask[rows, slots] = True
        overlap_logits = self.grounding_head(self.dropout(object_states)).squeeze(-1)

        loss = classification_loss = grounding_loss = None
        if iou_targets is not None and self.config.grounding_weight > 0:  # also for a Trainer loss function (no labels)
            grounding_loss = self.grounding_loss(overlap_logits, object_mask, iou_targets, num_items_in_batch or iou_targets.shape[0])
        if labels is not None:
            classification_loss = fixed_cross_entropy(logits.float(), labels, num_items_in_batch=num_items_in_batch)
            loss = classification_loss
            if grounding_loss is not None:
                loss = loss + self.config.grounding_weight * grounding_loss
        return ScannerEntityRecognizerOutput(
            loss=loss,
            logits=logits,
            overlap_logits=overlap_logits,
            object_mask=object_mask,
            classification_loss=classification_loss,
            grounding_loss=grounding_loss,
            hidden_states=hidden.hidden_states,
            attentions=hidden.attentions,
        )

    @staticmethod
    def grounding_loss(
        overlap_logits: torch.Tensor,
        object_mask: torch.Tensor,
        iou_targets: torch.Tensor,
        num_candidates: torch.Tensor | int,
    ) -> torch.Tensor:
        """BCE between sigmoid overlap scores and gold IoU, summed over the real objects of each
        candidate and averaged over candidates (``num_candidates``, the whole accumulated batch when
        the Trainer passes ``num_items_in_batch``), like the type loss, so gradient accumulation is exact."""
        width = min(overlap_logits.shape[1], iou_targets.shape[1])
        valid = object_mask[:, :width] & (iou_targets[:, :width] >= 0)
        losses = nn.functional.binary_cross_entropy_with_logits(
            overlap_logits[:, :width].float(), iou_targets[:, :width].clamp(min=0).float(), reduction="none"
        )
        if torch.is_tensor(num_candidates):
            num_candidates = num_candidates.to(losses.device)
        return (losses * valid).sum() / num_candidates
