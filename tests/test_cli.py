"""scanner-ner predict / evaluate / audit / train on a tiny run, as a user calls them."""

import json

import pytest
from conftest import write_recipe, write_twitter_folder
from PIL import Image

from scanner_hf.cli import main, parse_overrides


@pytest.fixture(scope="module")
def trained(tmp_path_factory, tiny_backbone_dir):
    root = tmp_path_factory.mktemp("cli")
    data = write_twitter_folder(root / "data", sentences_per_split=12)
    config = write_recipe(
        root, dataset="twitter2017", data_dir=str(data), output_dir=str(root / "run"), backbone=str(tiny_backbone_dir),
        stage1_max_length=32, max_prompt_length=48, non_entity_folds=0,
        stage1={"num_train_epochs": 2, "learning_rate": 3e-3}, stage2={"num_train_epochs": 2, "learning_rate": 3e-3},
    )
    main(["train", "--config", str(config), "--set", "seed=3"])
    return root, data


def test_train_wrote_the_composite(trained):
    root, _ = trained
    assert (root / "run" / "scanner" / "model.safetensors").exists()


def test_predict_prints_json_and_renders(trained, capsys):
    root, _ = trained
    image = root / "tweet.png"
    Image.new("RGB", (80, 60), "white").save(image)
    out_html, out_png = root / "out.html", root / "out.png"
    main(["predict", "steve kerr in paris", "--model", str(root / "run" / "scanner"), "--render", str(out_html)])
    entities = json.loads(capsys.readouterr().out)
    assert isinstance(entities, list) and out_html.read_text().startswith("<!DOCTYPE html>")
    main(["predict", "steve kerr in paris", "--model", str(root / "run" / "scanner"), "--return-knowledge"])
    explained = json.loads(capsys.readouterr().out)
    assert [{k: v for k, v in e.items() if k != "knowledge"} for e in explained] == entities
    assert explained and all(set(e["knowledge"]) >= {"kb", "caption", "llm", "objects", "cut"} for e in explained)
    main(["predict", "steve kerr", "--model", str(root / "run" / "scanner"), "--image", str(image), "--render", str(out_png)])
    assert Image.open(out_png).size == (80, 60)


def test_predict_streams_a_file_to_json_lines(trained, capsys):
    root, _ = trained
    model = str(root / "run" / "scanner")
    source = root / "texts.jsonl"
    source.write_text("\n".join(json.dumps({"id": i, "text": t}) for i, t in enumerate(["steve kerr in paris", "nba", "love the game"])))
    main(["predict", "--input", str(source), "--model", model, "--output", str(root / "out.jsonl"), "--batch-size", "2"])
    rows = [json.loads(line) for line in (root / "out.jsonl").read_text().splitlines()]
    assert [(r["id"], r["text"]) for r in rows] == [(0, "steve kerr in paris"), (1, "nba"), (2, "love the game")]
    from transformers import pipeline

    ner = pipeline("scanner-ner", model=model)
    assert [r["entities"] for r in rows] == ner([r["text"] for r in rows])  # the same entities as the pipeline
    plain = root / "texts.txt"
    plain.write_text("steve kerr in paris\n\nnba\n")
    main(["predict", "--input", str(plain), "--model", model])
    assert [json.loads(line)["text"] for line in capsys.readouterr().out.splitlines()] == ["steve kerr in paris", "nba"]
    with pytest.raises(SystemExit, match="give a TEXT or --input"):
        main(["predict", "--model", model])
    document = "love the game . steve kerr in paris . nba today !"
    plain.write_text(document + "\n")
    main(["predict", "--input", str(plain), "--model", model, "--max-context-words", "4"])
    [row] = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert row["entities"] == pipeline("scanner-ner", model=model, max_context_words=4)(document)


def test_evaluate_and_audit(trained, capsys):
    root, data = trained
    model = str(root / "run" / "scanner")
    main(["evaluate", "--model", model, "--dataset", "twitter2017", "--data-dir", str(data), "--output", str(root / "s.json")])
    scores = json.loads(capsys.readouterr().out)
    assert "f1" in scores and "per_type" in json.loads((root / "s.json").read_text())
    main(["evaluate", "--model", model, "--dataset", "twitter2017", "--data-dir", str(data), "--optimize", "int8", "--threads", "1"])
    quantized = json.loads(capsys.readouterr().out)
    assert abs(quantized["f1"] - scores["f1"]) <= 0.05  # int8 on a tiny model: same scores up to a few flipped spans
    main(["audit", "--model", model, "--dataset", "twitter2017", "--data-dir", str(data), "--top", "5", "--output", str(root / "audit" / "r")])
    assert len((root / "audit" / "r.jsonl").read_text().splitlines()) == 5
    assert capsys.readouterr().out.startswith("| rank |")


def test_overrides_parse_nested_values():
    assert parse_overrides(["stage1.num_train_epochs=1", "seed=3", "knowledge.captions=a.txt"]) == {
        "stage1": {"num_train_epochs": 1}, "seed": 3, "knowledge": {"captions": "a.txt"},
    }
