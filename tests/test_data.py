"""Readers: real-data counts from each folder's SOURCE.md, and format errors on hand-made files."""

from collections import Counter

import pytest

from scanner_hf.data import (
    DataFormatError,
    load_benchmark,
    read_conll_file,
    read_voc_boxes,
)
from scanner_hf.tags import tags_to_spans


def type_counts(split) -> Counter:
    names = split.features["ner_tags"].feature.names
    return Counter(s.label for ids in split["ner_tags"] for s in tags_to_spans([names[i] for i in ids]))


# (benchmark, split) -> (sentences, tokens, {type: entities}) as verified in shared/data/*/SOURCE.md
EXPECTED = {
    ("conll2003", "train"): (14041, 203621, {"PER": 6600, "LOC": 7140, "ORG": 6321, "MISC": 3438}),
    ("conll2003", "validation"): (3250, 51362, {"PER": 1842, "LOC": 1837, "ORG": 1341, "MISC": 922}),
    ("conll2003", "test"): (3453, 46435, {"PER": 1617, "LOC": 1668, "ORG": 1661, "MISC": 702}),
    # Twitter-2015: the "chunked" counts (each stray I- starts an entity, our repair policy)
    ("twitter2015", "train"): (4000, 64439, {"PER": 2285, "LOC": 2135, "ORG": 957, "OTHER": 975}),
    ("twitter2015", "validation"): (1000, 16178, {"PER": 567, "LOC": 543, "ORG": 251, "OTHER": 233}),
    ("twitter2015", "test"): (3257, 52822, {"PER": 1873, "LOC": 1720, "ORG": 860, "OTHER": 754}),
    # Twitter-2017 says MISC; the default label map makes it OTHER
    ("twitter2017", "train"): (3373, 53007, {"PER": 2943, "LOC": 731, "ORG": 1674, "OTHER": 701}),
    ("twitter2017", "validation"): (723, 11309, {"PER": 626, "LOC": 173, "ORG": 375, "OTHER": 150}),
    ("twitter2017", "test"): (723, 11330, {"PER": 621, "LOC": 178, "ORG": 395, "OTHER": 157}),
    ("twitter_gmner", "train"): (7000, None, {"PER": 5019, "LOC": 1919, "ORG": 3035, "OTHER": 1809}),
    ("twitter_gmner", "validation"): (1500, None, {"PER": 1072, "LOC": 408, "ORG": 595, "OTHER": 378}),
    ("twitter_gmner", "test"): (1500, None, {"PER": 1104, "LOC": 404, "ORG": 638, "OTHER": 397}),
    ("twitter_gmner_v2", "train"): (7000, None, {"PER": 5019, "LOC": 1918, "ORG": 3035, "OTHER": 1807}),
    ("twitter_gmner_v2", "validation"): (1500, None, {"PER": 1072, "LOC": 407, "ORG": 595, "OTHER": 376}),
    ("twitter_gmner_v2", "test"): (1500, None, {"PER": 1104, "LOC": 404, "ORG": 638, "OTHER": 397}),
}
STRAY_INSIDE = {("twitter2015", "train"): 186, ("twitter2015", "validation"): 53, ("twitter2015", "test"): 135}
DOCSTART = {("conll2003", "train"): 946, ("conll2003", "validation"): 216, ("conll2003", "test"): 231}
# (groundable entity mentions, boxes, boxes whose name matches no entity)
GROUNDING = {
    ("twitter_gmner", "train"): (4695, 5655, 44),
    ("twitter_gmner", "validation"): (986, 1164, 5),
    ("twitter_gmner", "test"): (1036, 1242, 10),
    ("twitter_gmner_v2", "train"): (4733, 5652, 0),
    ("twitter_gmner_v2", "validation"): (991, 1164, 0),
    ("twitter_gmner_v2", "test"): (1046, 1242, 0),
}


@pytest.mark.parametrize("name", ["conll2003", "twitter2015", "twitter2017", "twitter_gmner", "twitter_gmner_v2"])
def test_real_benchmark_counts(shared_data, name):
    splits, reports = load_benchmark(name, shared_data, return_reports=True)
    assert set(splits) == {"train", "validation", "test"}
    for split_name, split in splits.items():
        sentences, tokens, types = EXPECTED[(name, split_name)]
        assert len(split) == sentences
        if tokens is not None:
            assert sum(map(len, split["tokens"])) == tokens
        assert type_counts(split) == Counter(types)
        report = reports[split_name]
        assert report.stray_inside_repaired == STRAY_INSIDE.get((name, split_name), report.stray_inside_repaired)
        assert report.docstart_dropped == DOCSTART.get((name, split_name), 0)
        if (name, split_name) in GROUNDING:
            groundable, boxes, unmatched = GROUNDING[(name, split_name)]
            assert (report.groundable_entities, report.boxes, len(report.unmatched_box_names)) == (
                groundable, boxes, unmatched,
            )
    if name == "conll2003":
        assert not any("-DOCSTART-" in tokens for tokens in splits["train"]["tokens"])
    if name.startswith("twitter"):
        assert splits["train"].features["ner_tags"].feature.names == [
            "O", "B-LOC", "I-LOC", "B-ORG", "I-ORG", "B-OTHER", "I-OTHER", "B-PER", "I-PER",
        ]
        assert all(splits["test"]["image_id"])


def test_twitter2017_raw_names_are_kept_on_request(shared_data):
    splits = load_benchmark("twitter2017", shared_data, label_map=None)
    assert "B-MISC" in splits["train"].features["ner_tags"].feature.names


def test_malformed_line_names_file_and_line(tmp_path):
    path = tmp_path / "bad.txt"
    path.write_text("IMGID:1\nSteve\tB-PER\nKerr\n\n", encoding="utf-8")
    with pytest.raises(DataFormatError, match=r"bad.txt:3"):
        read_conll_file(path)
    path.write_text("IMGID:1\nSteve\tB-PERSON\nKerr\tQ-PER\n", encoding="utf-8")
    with pytest.raises(DataFormatError, match=r"bad.txt:3: not a BIO tag"):
        read_conll_file(path)


def test_unknown_entity_type_is_an_error(tmp_path):
    path = tmp_path / "t.txt"
    path.write_text("IMGID:1\nSteve\tB-ANIMAL\n\n", encoding="utf-8")
    with pytest.raises(DataFormatError, match="unknown entity types"):
        read_conll_file(path, entity_types=["PER"])


def test_image_id_without_tokens_is_an_error(tmp_path):
    path = tmp_path / "t.txt"
    path.write_text("IMGID:1\n\nIMGID:2\nx\tO\n", encoding="utf-8")
    with pytest.raises(DataFormatError, match="has no tokens"):
        read_conll_file(path)


VOC = """<annotation><size><width>100</width><height>50</height></size>{objects}</annotation>"""
OBJECT = "<object><name>{name}</name><bndbox><xmin>{x1}</xmin><ymin>1</ymin><xmax>{x2}</xmax><ymax>9</ymax></bndbox></object>"


def make_gmner(root, tweets, boxes):
    (root / "twitter_gmner" / "Twitter10000" / "txt").mkdir(parents=True)
    (root / "twitter_gmner" / "Twitter10000" / "xml").mkdir(parents=True)
    for split in ("train", "dev", "test"):
        lines = []
        for image_id, pairs in tweets:
            lines += [f"IMGID:{image_id}"] + [f"{w}\t{t}" for w, t in pairs] + [""]
        (root / "twitter_gmner" / "Twitter10000" / "txt" / f"{split}.txt").write_text("\n".join(lines), encoding="utf-8")
    for image_id, objects in boxes.items():
        body = "".join(OBJECT.format(name=n, x1=x1, x2=x2) for n, x1, x2 in objects)
        (root / "twitter_gmner" / "Twitter10000" / "xml" / f"{image_id}.xml").write_text(VOC.format(objects=body))


def test_gmner_boxes_several_boxes_ungroundable_and_unmatched(tmp_path):
    tweets = [
        ("a1", [("Steve", "B-PER"), ("Kerr", "I-PER"), ("and", "O"), ("Warriors", "B-ORG"), ("Steve", "B-PER")]),
        ("a2", [("Paris", "B-LOC")]),
    ]
    boxes = {"a1": [("Steve Kerr", 1, 5), ("Steve Kerr", 10, 20), ("Steve", 30, 40), ("Curry", 2, 3)]}
    make_gmner(tmp_path, tweets, boxes)
    splits, reports = load_benchmark("twitter_gmner", tmp_path, return_reports=True)
    first = splits["train"][0]
    assert [e["text"] for e in first["entities"]] == ["Steve Kerr", "Warriors", "Steve"]
    assert first["entities"][0]["boxes"] == [[1, 1, 5, 9], [10, 1, 20, 9]]
    assert first["entities"][1]["boxes"] == []  # ungroundable
    assert first["entities"][2]["boxes"] == [[30, 1, 40, 9]]
    assert (first["image_width"], first["image_height"]) == (100, 50)
    second = splits["train"][1]
    assert second["entities"][0]["boxes"] == [] and second["image_width"] is None
    report = reports["train"]
    assert report.unmatched_box_names == [("a1", "Curry")]
    assert (report.boxes, report.groundable_entities) == (4, 2)


def test_corrupt_xml_is_an_error(tmp_path):
    path = tmp_path / "x.xml"
    path.write_text("<annotation><object><name>A</name></object></annotation>")
    with pytest.raises(DataFormatError, match="lacks <name> or <bndbox>"):
        read_voc_boxes(path)
    path.write_text("<annotation><object>")
    with pytest.raises(DataFormatError, match="not valid xml"):
        read_voc_boxes(path)


def test_missing_folder_error_says_where(tmp_path):
    with pytest.raises(FileNotFoundError, match="SCANNER_HF_DATA_DIR"):
        load_benchmark("twitter2015", tmp_path)
    with pytest.raises(KeyError, match="unknown benchmark"):
        load_benchmark("wnut17", tmp_path)
