"""Stage-2 training inputs: labelled candidates with their knowledge encoded as prompts, labels and
IoU targets (the inference side, :func:`~.inference.candidate_inputs` and the collator, lives in
:mod:`.inference`)."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import datasets
from tqdm.auto import tqdm

from ..inference import candidate_inputs
from ..processing_scanner import Candidate
from ..configuration import NON_ENTITY
from ..prompting import PromptBuilder, PromptTooLongError
from ..providers import KnowledgeProvider
from .candidates import max_iou

logger = logging.getLogger(__name__)

CHUNK = 2048  # candidates per batched prompt build


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
    skipped = 0
    for offset in tqdm(range(0, len(candidates), CHUNK), desc="building prompts", disable=len(candidates) <= CHUNK):
        chunk = candidates[offset : offset + CHUNK]
        items = candidate_inputs(tokens, image_ids, chunk, providers)
        for candidate, item, prompt in zip(chunk, items, builder.build(items, skip_too_long=True)):
            if prompt is None:
                if candidate.label != NON_ENTITY:
                    raise PromptTooLongError(
                        f"the gold entity {' '.join(item.words[item.start:item.end])!r} (sentence {candidate.sentence_index}) "
                        f"does not fit a prompt of {builder.max_length} tokens: raise max_prompt_length"
                    )
                skipped += 1
                continue
            rows["input_ids"].append(prompt.input_ids)
            rows["labels"].append(label2id[candidate.label])
            rows["iou_targets"].append(
                [max_iou(item.knowledge.objects[i].box, candidate.boxes) for i in prompt.object_indices]
            )
    if skipped:
        logger.warning("%d of %d non-entity candidates are too long for a prompt of %d tokens and are left out of training",
                       skipped, len(candidates), builder.max_length)
    return datasets.Dataset.from_dict(rows)
