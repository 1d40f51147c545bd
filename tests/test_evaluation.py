import numpy as np
import pytest
from transformers import EvalPrediction

from scanner_hf.evaluation.metrics import (
    entity_scores,
    flatten_scores,
    make_compute_metrics,
)


def test_hand_computed_scores_with_seen_unseen_and_span_only():
    gold = [["B-PER", "I-PER", "O", "B-LOC"], ["B-ORG", "O"]]
    predicted = [["B-PER", "I-PER", "O", "B-ORG"], ["B-ORG", "B-PER"]]
    tokens = [["Steve", "Kerr", "in", "Paris"], ["NBA", "x"]]
    scores = entity_scores(gold, predicted, tokens=tokens, seen_entities={"NBA", "Paris"})
    # gold 3 entities, predicted 4, correct 2 (Steve Kerr/PER, NBA/ORG)
    assert scores["precision"] == pytest.approx(2 / 4)
    assert scores["recall"] == pytest.approx(2 / 3)
    assert scores["per_type"]["LOC"]["f1"] == 0.0 and scores["per_type"]["PER"]["precision"] == 0.5
    # span-only: Paris counts (right boundaries, wrong type)
    assert scores["span_precision"] == pytest.approx(3 / 4) and scores["span_recall"] == 1.0
    # seen gold: Paris, NBA; seen predicted: Paris(ORG), NBA -> 1 correct of 2 and 2
    assert scores["seen"] == {"precision": 0.5, "recall": 0.5, "f1": 0.5, "support": 2}
    # unseen gold: Steve Kerr; unseen predicted: Steve Kerr, x -> 1 correct
    assert scores["unseen"]["precision"] == 0.5 and scores["unseen"]["recall"] == 1.0


def test_strict_mode_does_not_credit_partial_spans():
    scores = entity_scores([["B-PER", "I-PER"]], [["B-PER", "O"]])
    assert scores["f1"] == 0.0


def test_untyped_stage1_tags_are_scored():
    scores = entity_scores([["B", "I", "O", "B"]], [["B", "I", "O", "O"]])
    assert scores["precision"] == 1.0 and scores["recall"] == 0.5


def test_length_mismatch_is_an_error():
    with pytest.raises(ValueError, match="sequence 0"):
        entity_scores([["O", "O"]], [["O"]])


def test_compute_metrics_reads_first_subword_positions():
    id2label = {0: "O", 1: "B-PER", 2: "I-PER"}
    logits = np.zeros((1, 5, 3))
    logits[0, [1, 2, 3, 4], [1, 0, 2, 0]] = 5  # B-PER at 1, (ignored) at 2, I-PER at 3
    labels = np.array([[-100, 1, -100, 2, 0]])
    metrics = make_compute_metrics(id2label, tokens=[["Steve", "Kerr", "x"]], seen_entities=set())(
        EvalPrediction(predictions=logits, label_ids=labels)
    )
    assert metrics["f1"] == 1.0 and metrics["unseen_f1"] == 1.0 and metrics["PER_support"] == 1


def test_flatten_scores():
    flat = flatten_scores({"f1": 1.0, "per_type": {"PER": {"f1": 0.5}}, "seen": {"f1": 0.2}})
    assert flat == {"f1": 1.0, "PER_f1": 0.5, "seen_f1": 0.2}
