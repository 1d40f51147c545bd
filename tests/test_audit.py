"""Noisy-label audit: items the teacher disagrees with come first; the report files are written."""

import json

import torch
from conftest import split_of, stage2_tokenizer_from

from scanner_hf import ScannerEntityRecognizer, ScannerEntityRecognizerConfig
from scanner_hf.evaluation.audit import audit_candidates, write_audit_report
from scanner_hf.prompting import PromptBuilder


def test_disagreements_rank_first_and_reports_are_written(tmp_path, tiny_tokenizer, tiny_encoder_config):
    tokenizer = stage2_tokenizer_from(tiny_tokenizer)
    encoder_config = tiny_encoder_config.__class__(**{**tiny_encoder_config.to_dict(), "vocab_size": len(tokenizer)})
    teacher = ScannerEntityRecognizer(
        ScannerEntityRecognizerConfig(
            encoder_config=encoder_config, entity_types=["LOC", "PER"], mask_token_id=tokenizer.mask_token_id,
            object_token_id=tokenizer.convert_tokens_to_ids("<obj>"),
        )
    ).eval()
    with torch.no_grad():  # the teacher believes everything is a PER
        teacher.classifier.weight.zero_()
        teacher.classifier.bias.copy_(torch.tensor([0.0, 3.0, 0.0]))
    split = split_of(
        [
            (["steve", "kerr", "in", "paris"], ["B-PER", "I-PER", "O", "B-LOC"]),
            (["john", "smith", "at", "google"], ["B-PER", "I-PER", "O", "B-LOC"]),
        ]
    )
    items = audit_candidates(teacher, PromptBuilder(tokenizer), split)
    assert [item.span for item in items[:2]] == ["paris", "google"] or [item.span for item in items[:2]] == ["google", "paris"]
    assert all(item.gold_label == "LOC" and item.teacher_label == "PER" for item in items[:2])
    assert items[0].alpha < items[-1].alpha
    jsonl, markdown = write_audit_report(items, tmp_path / "audit" / "report")
    rows = [json.loads(line) for line in jsonl.read_text().splitlines()]
    assert len(rows) == 4 and rows[0]["gold_label"] == "LOC"
    assert "| 1 |" in markdown.read_text() and "PER (" in markdown.read_text()
