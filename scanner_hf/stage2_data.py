"""Stage-2 training inputs: labelled candidates with their knowledge encoded as prompts, labels and
IoU targets (the inference side, :func:`~.inference.candidate_inputs` and the collator, lives in
:mod:`.inference`)."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import datasets
from tqdm.auto import tqdm

from .candidates import max_iou
from .inference import Candidate, candidate_inputs
from .packing import pack_prompts
from .prompting import PromptBuilder
from .providers import KnowledgeProvider

logger = logging.getLogger(__name__)

CHUNK = 2048  # candidates per batched prompt build


def encode_candidates(
    split: datasets.Dataset,
    candidates: Sequence[Candidate],
    builder: PromptBuilder,
    label2id: dict[str, int],
    providers: Sequence[KnowledgeProvider] = (),
    *,
    max_pack_tokens: int | None = None,
) -> datasets.Dataset:
    """A dataset of ``input_ids``, ``labels`` and ``iou_targets`` (one per ``<obj>`` slot: the object's
    best IoU with the entity's gold boxes) for labelled candidates; ``word_shape_ids`` too when the
    builder makes them. With ``max_pack_tokens`` (a packed recogniser), one row per packed sequence
    (:mod:`.packing`): ``input_ids``, ``position_ids``, ``candidate_ids`` and one label per candidate."""
    unknown = {c.label for c in candidates} - set(label2id)
    if unknown:
        raise ValueError(f"candidate labels {sorted(map(str, unknown))} are not model labels {sorted(label2id)}")
    tokens, image_ids = split["tokens"], split["image_id"]
    if max_pack_tokens is not None:
        return _encode_packed(tokens, image_ids, candidates, builder, label2id, providers, max_pack_tokens)
    rows: dict[str, list] = {"input_ids": [], "labels": [], "iou_targets": []}
    if builder.word_shapes:
        rows["word_shape_ids"] = []
    for offset in tqdm(range(0, len(candidates), CHUNK), desc="building prompts", disable=len(candidates) <= CHUNK):
        chunk = candidates[offset : offset + CHUNK]
        items = candidate_inputs(tokens, image_ids, chunk, providers)
        for candidate, item, prompt in zip(chunk, items, builder.build(items)):
            rows["input_ids"].append(prompt.input_ids)
            if builder.word_shapes:
                rows["word_shape_ids"].append(prompt.word_shape_ids)
            rows["labels"].append(label2id[candidate.label])
            rows["iou_targets"].append(
                [max_iou(item.knowledge.objects[i].box, candidate.boxes) for i in prompt.object_indices]
            )
    return datasets.Dataset.from_dict(rows)


def _encode_packed(tokens, image_ids, candidates, builder, label2id, providers, max_pack_tokens) -> datasets.Dataset:
    rows: dict[str, list] = {"input_ids": [], "position_ids": [], "candidate_ids": [], "labels": []}
    for offset in tqdm(range(0, len(candidates), CHUNK), desc="building packed prompts", disable=len(candidates) <= CHUNK):
        chunk = candidates[offset : offset + CHUNK]
        for pack in pack_prompts(builder.build(candidate_inputs(tokens, image_ids, chunk, providers)), max_pack_tokens):
            rows["input_ids"].append(pack.input_ids)
            rows["position_ids"].append(pack.position_ids)
            rows["candidate_ids"].append(pack.candidate_ids)
            rows["labels"].append([label2id[chunk[member].label] for member in pack.members])
    return datasets.Dataset.from_dict(rows)
