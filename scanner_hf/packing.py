"""Packed stage 2: all candidates of one text typed in one encoder pass.

The per-candidate prompt repeats the whole sentence for every candidate, so stage 2 encodes about
three times the tokens of the text itself (tweets). A packed recogniser (``packed_candidates`` in
:class:`~.configuration.ScannerEntityRecognizerConfig`) splits each prompt into what the candidates of
one text share (``[CLS]``, the sentence, the caption, ``[SEP]``) and what is the candidate's own (``The
entity is <mask> for {entity} in this sentence.`` and its Wikipedia/KB and LLM text), and puts the
shared part once followed by every candidate's own part in one sequence:

    [CLS] {sentence} {caption} [SEP] | The entity is <mask> for {entity 1} ... {kb 1} | The entity is <mask> for {entity 2} ...

An attention mask keeps them apart: the shared tokens attend only to each other, so they are encoded
as for a text alone; a candidate's tokens attend to the shared part and to their own. Every
candidate's positions start right after the shared part, so each sees the same positions as it
would alone. Each ``<mask>`` is classified as in the per-candidate model. It is a different model (it
is trained packed); detected objects and grounding are not part of it.

Inference layer: nothing here reads data files or trains.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import torch

from .prompting import EncodedPrompt

SHARED_PARTS = ("prefix", "sentence", "caption", "suffix")
OWN_PARTS = ("head", "wikipedia", "llm")
SHARED, PADDING = 0, -1  # candidate_ids of the shared text and of padding; candidate k (1-based) has k


@dataclass
class PackedPrompts:
    """One encoder sequence: a text's shared part, then the own part of each of its candidates.
    ``candidate_ids`` says whose each token is (0: shared, k: the k-th member); ``members`` are the
    indices (into the prompts that were packed) of the candidates, in order."""

    input_ids: list[int] = field(default_factory=list)
    position_ids: list[int] = field(default_factory=list)
    candidate_ids: list[int] = field(default_factory=list)
    members: list[int] = field(default_factory=list)


def split_prompt(prompt: EncodedPrompt) -> tuple[list[int], list[int]]:
    """``(shared, own)`` token ids of a per-candidate prompt (built by ``PromptBuilder``)."""
    if prompt.part_lengths is None:
        raise ValueError("the prompt has no part lengths: build it with scanner_hf.prompting.PromptBuilder")
    pieces, cursor = {}, 0
    for name, length in prompt.part_lengths.items():
        pieces[name] = prompt.input_ids[cursor : cursor + length]
        cursor += length
    if pieces["objects"]:
        raise ValueError("a packed recogniser takes no detected objects: build its prompts with max_objects=0")
    return [i for name in SHARED_PARTS for i in pieces[name]], [i for name in OWN_PARTS for i in pieces[name]]


def pack_prompts(prompts: Sequence[EncodedPrompt], max_pack_tokens: int) -> list[PackedPrompts]:
    """Candidates whose prompts share the same shared part (one text with the same caption) go into
    one sequence, in order, starting a new one when the next own part would pass ``max_pack_tokens``
    (a sequence always holds at least one candidate)."""
    groups: dict[tuple[int, ...], list[tuple[int, list[int]]]] = {}
    for index, prompt in enumerate(prompts):
        shared, own = split_prompt(prompt)
        groups.setdefault(tuple(shared), []).append((index, own))
    packs: list[PackedPrompts] = []
    for shared, members in groups.items():
        pack = None
        for index, own in members:
            if pack is None or (len(pack.input_ids) + len(own) > max_pack_tokens):
                pack = PackedPrompts(list(shared), list(range(len(shared))), [SHARED] * len(shared))
                packs.append(pack)
            pack.members.append(index)
            pack.input_ids += own
            pack.position_ids += range(len(shared), len(shared) + len(own))
            pack.candidate_ids += [len(pack.members)] * len(own)
    return packs


def packed_attention_mask(candidate_ids: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """The ``(batch, 1, length, length)`` additive mask of packed sequences: every token attends to
    the shared part, a candidate's tokens also to their own, and nothing attends to padding."""
    keys, queries = candidate_ids[:, None, :], candidate_ids[:, :, None]
    allowed = (keys == SHARED) | ((keys == queries) & (queries > SHARED))
    mask = torch.zeros(allowed.shape, dtype=dtype, device=candidate_ids.device)
    return mask.masked_fill_(~allowed, torch.finfo(dtype).min)[:, None]


@dataclass
class PackedCollator:
    """Pads packed sequences (token ids with the pad id, positions with 0, ``candidate_ids`` with -1)
    and their per-candidate labels (with -100, so the Trainer counts only real candidates)."""

    pad_token_id: int

    def __call__(self, features: list[dict]) -> dict[str, torch.Tensor]:
        width = max(len(f["input_ids"]) for f in features)
        batch = {
            "input_ids": torch.full((len(features), width), self.pad_token_id, dtype=torch.long),
            "position_ids": torch.zeros((len(features), width), dtype=torch.long),
            "candidate_ids": torch.full((len(features), width), PADDING, dtype=torch.long),
        }
        for row, feature in enumerate(features):
            length = len(feature["input_ids"])
            for name, column in batch.items():
                column[row, :length] = torch.tensor(feature[name], dtype=torch.long)
        batch["attention_mask"] = (batch["candidate_ids"] != PADDING).long()
        if "labels" in features[0]:
            heads = max(len(f["labels"]) for f in features)
            batch["labels"] = torch.full((len(features), heads), -100, dtype=torch.long)
            for row, feature in enumerate(features):
                batch["labels"][row, : len(feature["labels"])] = torch.tensor(feature["labels"], dtype=torch.long)
        return batch
