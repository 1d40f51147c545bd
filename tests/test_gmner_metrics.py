"""GMNER metrics on hand-made cases, both modes: ungroundable and several-box entities."""

import pytest

from scanner_hf.evaluation.metrics import gmner_scores, grounding_correct

BOX = [0, 0, 10, 10]


def test_grounding_rules_in_both_modes():
    assert grounding_correct(None, [], "candidate") and grounding_correct(None, [], "box")
    assert not grounding_correct(BOX, [], "candidate")  # ungroundable needs None
    assert not grounding_correct(None, [BOX], "box")
    half = [0, 0, 10, 5]  # IoU exactly 0.5 with BOX
    assert not grounding_correct(half, [BOX], "candidate") and grounding_correct(half, [BOX], "box")
    assert grounding_correct([40, 40, 50, 50], [BOX, [40, 40, 50, 51]], "candidate")  # any of several boxes
    with pytest.raises(ValueError):
        grounding_correct(None, [], "iou")


def test_gmner_mner_eeg_and_coverage():
    gold = [
        [
            {"start": 0, "end": 2, "label": "PER", "boxes": [BOX, [20, 20, 30, 30]]},
            {"start": 3, "end": 4, "label": "LOC", "boxes": []},
        ],
        [{"start": 0, "end": 1, "label": "ORG", "boxes": [[5, 5, 15, 15]]}],
    ]
    predicted = [
        [
            {"start": 0, "end": 2, "label": "PER", "box": [20, 20, 30, 30]},  # right, second box
            {"start": 3, "end": 4, "label": "ORG", "box": None},  # wrong type, right grounding (None)
        ],
        [
            {"start": 0, "end": 1, "label": "ORG", "box": [50, 50, 60, 60]},  # right type, wrong box
            {"start": 2, "end": 3, "label": "PER", "box": None},  # spurious
        ],
    ]
    scores = gmner_scores(gold, predicted, candidate_boxes=[[BOX], [[40, 40, 41, 41]]])
    assert scores["precision"] == pytest.approx(1 / 4) and scores["recall"] == pytest.approx(1 / 3)
    assert scores["mner"]["precision"] == pytest.approx(2 / 4) and scores["mner"]["recall"] == pytest.approx(2 / 3)
    assert scores["eeg"]["precision"] == pytest.approx(2 / 4)
    assert scores["coverage"] == pytest.approx(1 / 2)  # PER covered by BOX; ORG by nothing
    assert scores["mode"] == "candidate"
