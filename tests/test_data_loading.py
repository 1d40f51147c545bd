"""One loader for the user's data: CoNLL folders and files (IOB1/IOB2/BIOES), JSON Lines (tokens or
character offsets), datasets folders/files/objects with ClassLabel or string tags, images, and errors."""

import json

import datasets
import pytest
from PIL import Image

from scanner_hf.data import DataFormatError, load_benchmark, load_ner_dataset


def tags_of(split):
    names = split.features["ner_tags"].feature.names
    return [[names[i] for i in row] for row in split["ner_tags"]]


def test_conll2003_through_the_generic_path_equals_the_benchmark_reader(shared_data):
    folder = shared_data / "conll2003"
    generic = load_ner_dataset({"train": folder / "eng.train", "validation": folder / "eng.testa", "test": folder / "eng.testb"})
    benchmark = load_benchmark("conll2003")
    for split in ("train", "validation", "test"):
        assert generic[split].features["ner_tags"] == benchmark[split].features["ner_tags"]
        assert generic[split]["tokens"] == benchmark[split]["tokens"]
        assert generic[split]["ner_tags"] == benchmark[split]["ner_tags"]


def write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_conll_folder_with_common_names_bioes_detected_image_ids_and_docstart(tmp_path, caplog):
    caplog.set_level("INFO")
    write(tmp_path / "data" / "train.txt", "-DOCSTART- O\n\nIMGID:1\nSteve\tB-PER\nKerr\tE-PER\nwins\tO\n\nIMGID:2\nParis\tS-LOC\n")
    write(tmp_path / "data" / "dev.txt", "IMGID:3\nNBA\tS-ORG\nrocks\tO\n")
    write(tmp_path / "data" / "test.txt", "IMGID:4\nNew\tB-LOC\nYork\tI-LOC\nCity\tE-LOC\n")
    write(tmp_path / "data" / "README.md", "not data")
    splits = load_ner_dataset(tmp_path / "data")
    assert list(splits) == ["train", "validation", "test"]
    assert tags_of(splits["train"]) == [["B-PER", "I-PER", "O"], ["B-LOC"]] and splits["train"]["image_id"] == ["1", "2"]
    assert tags_of(splits["test"]) == [["B-LOC", "I-LOC", "I-LOC"]]
    assert splits["train"].features["ner_tags"].feature.names == ["O", "B-LOC", "I-LOC", "B-ORG", "I-ORG", "B-PER", "I-PER"]
    assert "tag scheme detected as BIOES" in caplog.text


def test_iob1_is_detected_and_a_missing_validation_split_is_carved(tmp_path, caplog):
    lines = "\n\n".join(f"w{i}\tO\nSteve\tI-PER\nKerr\tI-PER\nBob\tB-PER" for i in range(20))
    splits = load_ner_dataset(write(tmp_path / "only.conll", lines), validation_size=0.25, seed=1)
    assert len(splits["train"]) == 15 and len(splits["validation"]) == 5 and "test" not in splits
    assert tags_of(splits["train"])[0] == ["O", "B-PER", "I-PER", "B-PER"]
    assert "carved out as validation" in caplog.text and "no test split" in caplog.text


def test_jsonl_with_tokens_or_character_offsets(tmp_path):
    rows = [{"tokens": ["Steve", "Kerr", "wins"], "ner_tags": ["B-PER", "I-PER", "O"], "image_id": "7"},
            {"text": "RT @nba: Steve Kerr praises the Warriors!", "entities": [{"start": 9, "end": 19, "label": "PER"},
                                                                         {"start": 32, "end": 40, "label": "ORG"}]}]
    path = write(tmp_path / "train.jsonl", "\n".join(json.dumps(r) for r in rows))
    splits = load_ner_dataset({"train": path, "validation": path})
    assert splits["train"]["tokens"][1] == ["RT", "@nba", ":", "Steve", "Kerr", "praises", "the", "Warriors", "!"]
    assert tags_of(splits["train"])[1] == ["O", "O", "O", "B-PER", "I-PER", "O", "O", "B-ORG", "O"]
    assert splits["train"]["image_id"] == ["7", None]
    bad = write(tmp_path / "bad.jsonl", json.dumps({"text": "Steve Kerr", "entities": [{"start": 0, "end": 3, "label": "PER"}]}))
    with pytest.raises(DataFormatError, match=r"bad.jsonl:1: entity 'Ste' \[0:3\].*word boundaries"):
        load_ner_dataset(bad)


def test_datasets_folder_files_and_objects_with_images(tmp_path):
    names = ["O", "B-PER", "I-PER"]
    features = datasets.Features({"words": datasets.Sequence(datasets.Value("string")),
                                  "labels": datasets.Sequence(datasets.ClassLabel(names=names)),
                                  "photo": datasets.Value("string")})
    part = datasets.Dataset.from_dict({"words": [["Steve", "Kerr"], ["hi"]], "labels": [[1, 2], [0]], "photo": ["a", "b"]}, features=features)
    datasets.DatasetDict({"train": part, "dev": part}).save_to_disk(tmp_path / "saved")
    for name in ("a", "b"):
        Image.new("RGB", (4, 4)).save(tmp_path / f"{name}.png")
    splits = load_ner_dataset(tmp_path / "saved", tokens_column="words", tags_column="labels", image_id_column="photo", image_dir=tmp_path)
    assert set(splits) == {"train", "validation"} and tags_of(splits["validation"])[0] == ["B-PER", "I-PER"]
    assert splits["train"][0]["image"].size == (4, 4) and splits["train"]["image_id"] == ["a", "b"]
    with pytest.raises(DataFormatError, match="no image 'a'"):
        load_ner_dataset(tmp_path / "saved", tokens_column="words", tags_column="labels", image_id_column="photo", image_dir=tmp_path / "x")
    strings = datasets.Dataset.from_dict({"tokens": [["Paris", "!"]], "ner_tags": [["B-LOC", "O"]]})
    strings.to_parquet(tmp_path / "train.parquet")
    from_parquet = load_ner_dataset({"train": tmp_path / "train.parquet", "validation": tmp_path / "train.parquet"})
    assert tags_of(from_parquet["train"]) == [["B-LOC", "O"]]
    with_pictures = datasets.Dataset.from_dict({"tokens": [["Paris"]], "ner_tags": [["B-LOC"]], "image": [Image.new("RGB", (2, 3))]})
    loaded = load_ner_dataset(datasets.DatasetDict({"train": with_pictures, "validation": with_pictures}))
    assert loaded["train"][0]["image"].size == (2, 3)


def test_bad_input_names_the_split_and_row(tmp_path, caplog):
    mismatch = datasets.Dataset.from_dict({"tokens": [["a", "b"], ["c"]], "ner_tags": [["O", "O"], ["O", "O"]]})
    with pytest.raises(DataFormatError, match="split 'train' row 1: 1 tokens but 2 tags"):
        load_ner_dataset(mismatch)
    empty = datasets.Dataset.from_dict({"tokens": [[]], "ner_tags": [[]]})
    with pytest.raises(DataFormatError, match="row 0: empty sentence"):
        load_ner_dataset(empty)
    with pytest.raises(DataFormatError, match="not a BIOES tag: 'PER'"):
        load_ner_dataset(datasets.Dataset.from_dict({"tokens": [["a"]], "ner_tags": [["PER"]]}))
    with pytest.raises(DataFormatError, match=r"no column \['tags'\]"):
        load_ner_dataset(mismatch, tags_column="tags")
    with pytest.raises(DataFormatError, match=r":2: expected 'token<TAB>tag'"):
        load_ner_dataset(write(tmp_path / "broken.txt", "a\tO\nb\n"))
    with pytest.raises(DataFormatError, match="no training file"):
        write(tmp_path / "folder" / "notes.txt", "a\tO\n")
        load_ner_dataset(tmp_path / "folder")
    train = datasets.Dataset.from_dict({"tokens": [["a"]], "ner_tags": [["B-PER"]]})
    test = datasets.Dataset.from_dict({"tokens": [["b"]], "ner_tags": [["B-LOC"]]})
    load_ner_dataset(datasets.DatasetDict({"train": train, "validation": train, "test": test}))
    assert "split 'test' has entity types that train never has: ['LOC']" in caplog.text
