"""Noisy-label audit: the training items a trained teacher distrusts most.

TYT's ``alpha`` (the teacher's probability of the gold label) doubles as an annotation-quality
signal: items with the lowest alpha are where the label and a model trained on all the other labels
disagree most. The report lists them, lowest first, with the teacher's own choice, as JSONL and as a
readable Markdown table, so annotators can check the likely errors first.

>>> items = audit_candidates(teacher, builder, splits["train"])             # doctest: +SKIP
>>> write_audit_report(items[:50], "audit/twitter2015")                    # doctest: +SKIP
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import datasets
import torch

from ..inference import candidate_inputs
from ..modeling_entity_recognizer import ScannerEntityRecognizer
from ..processing_scanner import Candidate, Stage2Collator
from ..prompting import PromptBuilder
from ..providers import KnowledgeProvider
from ..training.candidates import gold_candidates


@dataclass
class AuditItem:
    """One labelled item and the teacher's view of it; ``alpha`` = teacher's gold-label probability."""

    alpha: float
    sentence_index: int
    image_id: str | None
    sentence: str
    span: str
    start: int
    end: int
    gold_label: str
    teacher_label: str
    teacher_probability: float


@torch.no_grad()
def audit_candidates(
    teacher: ScannerEntityRecognizer,
    builder: PromptBuilder,
    split: datasets.Dataset,
    candidates: Sequence[Candidate] | None = None,
    providers: Sequence[KnowledgeProvider] = (),
    *,
    batch_size: int = 64,
) -> list[AuditItem]:
    """Score every labelled candidate (default: the split's gold entities) with a stage-2 teacher and
    return them ranked by alpha, lowest (most suspicious) first."""
    candidates = list(candidates) if candidates is not None else gold_candidates(split)
    tokens, image_ids = split["tokens"], split["image_id"]
    items = candidate_inputs(tokens, image_ids, candidates, providers)
    prompts = builder.build(items)
    collator = Stage2Collator(builder.tokenizer, teacher.config.max_objects)
    label2id, id2label = teacher.config.label2id, teacher.config.id2label
    unknown = {c.label for c in candidates} - set(label2id)
    if unknown:
        raise ValueError(f"candidate labels {sorted(map(str, unknown))} are not the teacher's labels {sorted(label2id)}")
    order = sorted(range(len(prompts)), key=lambda i: len(prompts[i].input_ids))
    report: list[AuditItem] = []
    teacher.eval()
    for offset in range(0, len(order), batch_size):
        indices = order[offset : offset + batch_size]
        batch = collator([{"input_ids": prompts[i].input_ids} for i in indices])
        probabilities = teacher(**{k: v.to(teacher.device) for k, v in batch.items()}).logits.float().softmax(-1).cpu()
        for row, index in enumerate(indices):
            candidate = candidates[index]
            words = tokens[candidate.sentence_index]
            best = int(probabilities[row].argmax())
            report.append(
                AuditItem(
                    alpha=float(probabilities[row, label2id[candidate.label]]),
                    sentence_index=candidate.sentence_index,
                    image_id=image_ids[candidate.sentence_index],
                    sentence=" ".join(words),
                    span=" ".join(words[candidate.start : candidate.end]),
                    start=candidate.start,
                    end=candidate.end,
                    gold_label=str(candidate.label),
                    teacher_label=id2label[best],
                    teacher_probability=float(probabilities[row, best]),
                )
            )
    return sorted(report, key=lambda item: item.alpha)


def write_audit_report(items: Sequence[AuditItem], path_prefix: str | Path) -> tuple[Path, Path]:
    """Write ``<prefix>.jsonl`` (all fields) and ``<prefix>.md`` (a ranked table); returns both paths."""
    prefix = Path(path_prefix)
    prefix.parent.mkdir(parents=True, exist_ok=True)
    jsonl, markdown = prefix.with_suffix(".jsonl"), prefix.with_suffix(".md")
    with open(jsonl, "w", encoding="utf-8") as handle:
        handle.writelines(json.dumps(asdict(item), ensure_ascii=False) + "\n" for item in items)
    lines = [
        "| rank | alpha | span | gold | teacher (p) | sentence |",
        "|---|---|---|---|---|---|",
    ]
    for rank, item in enumerate(items, start=1):
        sentence, span = item.sentence.replace("|", "\\|"), item.span.replace("|", "\\|")
        lines.append(
            f"| {rank} | {item.alpha:.3f} | {span} | {item.gold_label} | "
            f"{item.teacher_label} ({item.teacher_probability:.2f}) | {sentence} |"
        )
    markdown.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return jsonl, markdown
