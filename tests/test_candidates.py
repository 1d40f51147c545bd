import pytest
from conftest import split_of

from scanner_hf.training.candidates import (
    box_iou,
    cross_fold_spans,
    fold_indices,
    gold_candidates,
    max_iou,
    non_entity_candidates,
    training_candidates,
)

SPLIT_ROWS = [
    (["steve", "kerr", "in", "paris"], ["B-PER", "I-PER", "O", "B-LOC"]),
    (["love", "the", "game"], ["O", "O", "O"]),
]


def test_gold_and_non_entity_candidates():
    split = split_of(SPLIT_ROWS)
    gold = gold_candidates(split)
    assert [(c.sentence_index, c.start, c.end, c.label) for c in gold] == [(0, 0, 2, "PER"), (0, 3, 4, "LOC")]
    predicted = [[(0, 2), (0, 1), (2, 4)], [(2, 3)]]
    extra = non_entity_candidates(split, predicted)
    assert [(c.sentence_index, c.start, c.end, c.label) for c in extra] == [
        (0, 0, 1, "non-entity"), (0, 2, 4, "non-entity"), (1, 2, 3, "non-entity"),
    ]
    assert len(training_candidates(split, predicted)) == 5
    with pytest.raises(ValueError):
        non_entity_candidates(split, predicted[:1])


def test_folds_partition_the_split():
    folds = fold_indices(10, 4, seed=1)
    assert sorted(i for fold in folds for i in fold) == list(range(10))
    assert fold_indices(10, 4, seed=1) == folds and fold_indices(10, 4, seed=2) != folds


def test_cross_fold_spans_never_predict_a_sentence_seen_in_training():
    split = split_of(SPLIT_ROWS * 4)
    calls = []

    def train_and_predict(train_part, held_out):
        calls.append((len(train_part), len(held_out)))
        return [[(0, len(tokens))] for tokens in held_out["tokens"]]

    spans = cross_fold_spans(split, train_and_predict, folds=4, seed=0)
    assert len(spans) == 8 and all(spans)
    assert calls == [(6, 2)] * 4
    assert spans[1] == [(0, 3)]


def test_iou_hand_values():
    assert box_iou([0, 0, 10, 10], [0, 0, 10, 10]) == 1.0
    assert box_iou([0, 0, 10, 10], [5, 0, 15, 10]) == pytest.approx(50 / 150)
    assert box_iou([0, 0, 10, 10], [10, 10, 20, 20]) == 0.0
    assert max_iou([0, 0, 10, 10], [[20, 20, 30, 30], [0, 0, 10, 5]]) == 0.5
    assert max_iou(None, [[0, 0, 1, 1]]) == 0.0 and max_iou([0, 0, 1, 1], []) == 0.0
