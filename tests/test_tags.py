import pytest

from scanner_hf.tags import (
    TagSpan,
    bio_label_list,
    bioes_to_iob2,
    detect_tag_scheme,
    iob1_to_iob2,
    rename_labels,
    repair_stray_inside,
    spans_to_tags,
    tags_to_spans,
    untyped_tags,
)


def test_iob1_to_iob2_opens_entities_and_keeps_adjacent_b():
    iob1 = ["I-ORG", "O", "I-PER", "I-PER", "B-PER", "I-LOC", "I-ORG"]
    assert iob1_to_iob2(iob1) == ["B-ORG", "O", "B-PER", "I-PER", "B-PER", "B-LOC", "B-ORG"]


def test_repair_counts_orphan_inside_tags():
    tags = ["O", "I-PER", "I-PER", "B-LOC", "I-ORG", "O"]
    repaired, count = repair_stray_inside(tags)
    assert repaired == ["O", "B-PER", "I-PER", "B-LOC", "B-ORG", "O"]
    assert count == 2
    assert repair_stray_inside(["B-PER", "I-PER"]) == (["B-PER", "I-PER"], 0)


def test_rename_keeps_prefix():
    assert rename_labels(["B-MISC", "I-MISC", "O", "B-PER"], {"MISC": "OTHER"}) == ["B-OTHER", "I-OTHER", "O", "B-PER"]


def test_spans_round_trip():
    tags = ["B-PER", "I-PER", "O", "B-LOC", "B-LOC", "I-LOC"]
    spans = tags_to_spans(tags)
    assert spans == [TagSpan(0, 2, "PER"), TagSpan(3, 4, "LOC"), TagSpan(4, 6, "LOC")]
    assert spans_to_tags(spans, len(tags)) == tags
    assert untyped_tags(tags) == ["B", "I", "O", "B", "B", "I"]


def test_bad_tags_and_spans_raise():
    with pytest.raises(ValueError, match="not a BIO tag"):
        tags_to_spans(["B-PER", "X-PER"])
    with pytest.raises(ValueError, match="overlaps"):
        spans_to_tags([TagSpan(0, 2, "PER"), TagSpan(1, 3, "LOC")], 4)


def test_label_list_is_stable():
    assert bio_label_list(["PER", "LOC", "PER"]) == ["O", "B-LOC", "I-LOC", "B-PER", "I-PER"]


def test_bioes_and_bilou_become_iob2():
    assert bioes_to_iob2(["S-PER", "B-LOC", "I-LOC", "E-LOC", "O", "U-ORG", "B-PER", "L-PER"]) == [
        "B-PER", "B-LOC", "I-LOC", "I-LOC", "O", "B-ORG", "B-PER", "I-PER",
    ]
    with pytest.raises(ValueError, match="not a BIOES tag"):
        bioes_to_iob2(["X-PER"])


def test_tag_scheme_detection():
    assert detect_tag_scheme([["B-PER", "E-PER"], ["O"]]) == "bioes"
    assert detect_tag_scheme([["I-PER", "I-PER", "O", "I-LOC"], ["I-ORG", "B-ORG"]]) == "iob1"
    assert detect_tag_scheme([["B-PER", "I-PER", "O", "B-LOC"], ["I-ORG"]]) == "iob2"  # a stray I- in IOB2 data
    assert detect_tag_scheme([["O", "O"]]) == "iob2"
