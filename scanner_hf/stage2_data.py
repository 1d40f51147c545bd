"""Turning stage-2 candidates into model inputs: knowledge lookup, prompts, labels and IoU targets,
and the collator that pads prompts and object targets into batches."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import datasets
import torch
from tqdm.auto import tqdm
from transformers import PreTrainedTokenizerBase

from .candidates import Candidate, max_iou
from .prompting import PromptBuilder, PromptInput
from .providers import Knowledge, KnowledgeProvider, KnowledgeRequest, gather_knowledge

logger = logging.getLogger(__name__)

CHUNK = 2048  # candidates per batched prompt build


def candidate_inputs(
    tokens: Sequence[Sequence[str]],
    image_ids: Sequence[str | None],
    candidates: Sequence[Candidate],
    providers: Sequence[KnowledgeProvider] = (),
    *,
    given: Sequence[Knowledge | None] | None = None,
    images: Sequence | None = None,
) -> list[PromptInput]:
    """Prompt inputs for candidates. Knowledge ``given`` per sentence (precomputed by the caller) wins;
    ``providers`` fill what it leaves empty (none at all: text only). Objects are ordered by their
    similarity to the candidate when every object has one, else kept in detector order."""
    requests = [
        KnowledgeRequest(
            sentence=" ".join(tokens[candidate.sentence_index]),
            candidate=" ".join(tokens[candidate.sentence_index][candidate.start : candidate.end]),
            image_id=image_ids[candidate.sentence_index],
            image=images[candidate.sentence_index] if images is not None else None,
        )
        for candidate in candidates
    ] if providers else []
    for provider in providers:
        provider.prefetch(requests)
    items = []
    for position, candidate in enumerate(candidates):
        index = candidate.sentence_index
        knowledge = (given[index] if given is not None else None) or Knowledge()
        if providers:
            knowledge = knowledge.merged_with(gather_knowledge(providers, requests[position]))
        items.append(PromptInput(tokens[index], candidate.start, candidate.end, knowledge.with_objects_ordered()))
    return items


def encode_candidates(
    split: datasets.Dataset,
    candidates: Sequence[Candidate],
    builder: PromptBuilder,
    label2id: dict[str, int],
    providers: Sequence[KnowledgeProvider] = (),
) -> datasets.Dataset:
    """A dataset of ``input_ids``, ``labels`` and ``iou_targets`` (one per ``<obj>`` slot: the object's
    best IoU with the entity's gold boxes) for labelled candidates."""
    unknown = {c.label for c in candidates} - set(label2id)
    if unknown:
        raise ValueError(f"candidate labels {sorted(map(str, unknown))} are not model labels {sorted(label2id)}")
    tokens, image_ids = split["tokens"], split["image_id"]
    rows: dict[str, list] = {"input_ids": [], "labels": [], "iou_targets": []}
    for offset in tqdm(range(0, len(candidates), CHUNK), desc="building prompts", disable=len(candidates) <= CHUNK):
        chunk = candidates[offset : offset + CHUNK]
        items = candidate_inputs(tokens, image_ids, chunk, providers)
        for candidate, item, prompt in zip(chunk, items, builder.build(items)):
            rows["input_ids"].append(prompt.input_ids)
            rows["labels"].append(label2id[candidate.label])
            rows["iou_targets"].append(
                [max_iou(item.knowledge.objects[i].box, candidate.boxes) for i in prompt.object_indices]
            )
    return datasets.Dataset.from_dict(rows)


@dataclass
class Stage2Collator:
    """Pads prompts (with attention masks) and the per-object IoU targets (with -1) of a batch."""

    tokenizer: PreTrainedTokenizerBase
    max_objects: int

    def __call__(self, features: list[dict]) -> dict[str, torch.Tensor]:
        batch = self.tokenizer.pad([{"input_ids": f["input_ids"]} for f in features], return_tensors="pt")
        if "labels" in features[0]:
            batch["labels"] = torch.tensor([f["labels"] for f in features], dtype=torch.long)
        if "iou_targets" in features[0]:
            targets = torch.full((len(features), self.max_objects), -1.0)
            for row, feature in enumerate(features):
                values = feature["iou_targets"][: self.max_objects]
                targets[row, : len(values)] = torch.tensor(values, dtype=torch.float)
            batch["iou_targets"] = targets
        return dict(batch)
