"""pipeline("scanner-ner"): input forms, outputs with character offsets, bad inputs, the saved folder,
and loading with trust_remote_code where scanner_hf cannot be imported."""

import json
import os
import subprocess
import sys
import textwrap

import pytest
from conftest import composite
from PIL import Image
from transformers import pipeline

from scanner_hf import ScannerNERPipeline


def test_saved_folder_is_complete(saved):
    files = set(os.listdir(saved))
    assert {"config.json", "model.safetensors", "tokenizer_config.json", "pipeline.py", "modeling_scanner.py", "inference.py"} <= files
    code = {name for name in files if name.endswith(".py")}
    # only what inference needs travels with the model: no data readers, metrics or training code
    assert code == {"configuration.py", "modeling_scanner.py", "modeling_span_detector.py", "modeling_entity_recognizer.py",
                    "pipeline.py", "inference.py", "prediction.py", "processing_scanner.py", "optimization.py", "onnx_runtime.py", "prompting.py", "modeling_base.py", "providers.py", "tokenization.py", "tags.py",
                    "backbones.py"}, code
    config = json.loads((saved / "config.json").read_text())
    assert config["auto_map"]["AutoModel"] == "modeling_scanner.ScannerForMultimodalNER"
    assert config["custom_pipelines"]["scanner-ner"]["impl"] == "pipeline.ScannerNERPipeline"


def test_pipeline_inputs_and_offsets(saved):
    ner = pipeline("scanner-ner", model=str(saved))
    text = "Look:  Steve Kerr in PARIS!"
    result = ner(text)
    spans = [(r["word"], r["entity_group"], text[r["start"] : r["end"]]) for r in result]
    assert [s[0] for s in spans] == [s[2] for s in spans]
    assert {s[0] for s in spans} <= {"Steve", "Kerr", "Steve Kerr", "PARIS"} and spans
    assert all(r["entity_group"] == "LOC" and 0 < r["score"] <= 1 and "box" not in r for r in result)
    many = ner([text, "nothing here at all", {"text": text, "caption": "a man", "knowledge": "a coach"}])
    assert len(many) == 3 and many[0] == result and many[1] == []
    words = ner(["in", "paris"], is_split_into_words=True)
    assert [(r["word"], r["start"], r["end"]) for r in words] == [("paris", 3, 8)]


def test_datasets_generators_and_batch_size(saved):
    import datasets
    from transformers.pipelines.pt_utils import KeyDataset

    ner = pipeline("scanner-ner", model=str(saved))
    texts = ["Steve Kerr in PARIS!", "nothing here", "paris", "kerr and steve", "the game"]
    expected = ner(texts)
    assert [r for r in expected if r] and ner(texts, batch_size=2) == expected
    rows = datasets.Dataset.from_dict({"text": texts})
    for batch_size in (1, 4):
        streamed = ner(KeyDataset(rows, "text"), batch_size=batch_size)
        assert not isinstance(streamed, list) and list(streamed) == expected
    assert list(ner((t for t in texts), batch_size=3)) == expected
    assert list(ner({"text": t} for t in texts)) == expected
    with pytest.raises(ValueError, match="batch_size"):
        ner(texts, batch_size=0)


def test_inputs_run_several_batches_at_a_time_so_stages_can_sort_them(saved, monkeypatch):
    import scanner_hf.prediction as inference_module

    ner = pipeline("scanner-ner", model=str(saved))
    texts = [f"text {n} " + "word " * (n % 7) + "in paris" for n in range(40)]
    expected = ner(texts)
    chunks, run = [], ner._run
    monkeypatch.setattr(ner, "_run", lambda prepared, **kwargs: chunks.append(len(prepared)) or run(prepared, **kwargs))
    monkeypatch.setattr(inference_module, "SORTING_WINDOW", 4)
    assert ner(texts, batch_size=3) == expected and chunks == [12, 12, 12, 4]
    chunks.clear()
    assert list(ner(iter(texts), batch_size=1)) == expected and chunks == [1] * 40


def test_long_text_is_windowed_not_cut(saved):
    ner = pipeline("scanner-ner", model=str(saved))
    text = " ".join(["love the game"] * 60 + ["in paris"])  # ~182 words > 128 positions
    result = ner(text)
    assert result and result[-1]["word"] == "paris" and result[-1]["end"] == len(text)


def test_documents_give_each_candidate_only_its_sentences(saved, caplog):
    text = " ".join(["love the game ."] * 30 + ["steve kerr praises the warriors in paris ."] + ["go warriors !"] * 30)
    whole = pipeline("scanner-ner", model=str(saved))
    assert whole.model.processor.max_context_words is None
    limited = pipeline("scanner-ner", model=str(saved), max_context_words=12)
    assert limited.builder.max_context_words == 12
    with caplog.at_level("INFO", logger="scanner_hf.prompting"):
        found = limited(text)
    assert "hold only the sentences around their candidate (max_context_words=12)" in caplog.text
    assert all(text[e["start"] : e["end"]] == e["word"] for e in found)
    assert pipeline("scanner-ner", model=str(saved), max_context_words=0).builder.max_context_words is None
    shared = ScannerNERPipeline(model=whole.model, tokenizer=whole.tokenizer, max_context_words=12)
    assert shared.builder.max_context_words == 12
    assert whole.model.processor.max_context_words is None  # the option is this pipeline's only
    assert ScannerNERPipeline(model=whole.model, tokenizer=whole.tokenizer).builder.max_context_words is None
    with pytest.raises(ValueError, match="max_context_words"):
        pipeline("scanner-ner", model=str(saved), max_context_words=-1)


def test_bad_inputs_give_clear_errors(saved, tmp_path):
    ner = pipeline("scanner-ner", model=str(saved))
    with pytest.raises(ValueError, match="empty"):
        ner("   ")
    with pytest.raises(TypeError, match="expected a string"):
        ner(42)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        ner("steve kerr", image=str(tmp_path / "missing.jpg"))
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"not an image")
    with pytest.raises(ValueError, match="cannot be read"):
        ner("steve kerr", image=str(broken))
    with pytest.raises(ValueError, match="unknown input keys"):
        ner({"text": "steve", "imgae": "x.jpg"})
    with pytest.raises(TypeError, match="'label'"):
        ner({"text": "steve", "objects": [{"box": [0, 0, 1, 1]}]})


def test_grounding_models_return_boxes(tmp_path, tiny_tokenizer, tiny_encoder_config):
    model, tokenizer = composite(tiny_tokenizer, tiny_encoder_config, grounding_weight=1.0)
    ner = ScannerNERPipeline(model=model, tokenizer=tokenizer)
    image = tmp_path / "tweet.jpg"
    Image.new("RGB", (64, 48), "white").save(image)
    objects = [{"label": "person", "box": [1, 2, 30, 40], "similarity": 0.2}, {"label": "ball", "box": [5, 5, 9, 9], "similarity": 0.9}]
    [entity] = ner({"text": "paris", "image": str(image), "objects": objects})
    assert entity["box"] == [5.0, 5.0, 9.0, 9.0]  # most similar object first, equal overlap scores
    assert entity["box_score"] > 0.5
    [plain] = ner("paris")
    assert plain["box"] is None and plain["box_score"] is None


REMOTE_SCRIPT = textwrap.dedent(
    """
    import sys
    sys.modules["scanner_hf"] = None  # the installed package cannot be imported here
    from transformers import pipeline
    try:
        import scanner_hf  # noqa: F401
    except ImportError:
        pass
    else:
        raise SystemExit("scanner_hf was importable")
    ner = pipeline("scanner-ner", model=sys.argv[1], trust_remote_code=True)
    result = ner("Steve Kerr in Paris")
    print(type(ner).__module__, [(r["word"], r["entity_group"]) for r in result])
    """
)


def test_trust_remote_code_without_the_package(saved, tmp_path):
    config = json.loads((saved / "config.json").read_text())
    config["knowledge"] = {"wikipedia": ["ovos", "geonames"]}  # knowledge that only the package can build
    (saved / "config.json").write_text(json.dumps(config))
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(HF_HUB_OFFLINE="1", HF_MODULES_CACHE=str(tmp_path / "modules"), OMP_NUM_THREADS="1")
    completed = subprocess.run(
        [sys.executable, "-c", REMOTE_SCRIPT, str(saved)], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300, check=False
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    module, found = completed.stdout.strip().splitlines()[-1].split(" ", 1)
    assert module.startswith("transformers_modules")
    assert "LOC" in found and "Steve" in found
    assert completed.stderr.count("is built by the scanner-hf package, which is not installed here") == 1


def test_composing_the_stages_changes_none_of_their_outputs(tmp_path, tiny_tokenizer, tiny_encoder_config):
    """Regression: building the composite must not reset the trained (loaded) stages' attention settings."""
    import torch

    from scanner_hf import (
        ScannerEntityRecognizer,
        ScannerForMultimodalNER,
        ScannerSpanDetector,
    )

    model, tokenizer = composite(tiny_tokenizer, tiny_encoder_config)
    model.span_detector.save_pretrained(tmp_path / "stage1")
    model.entity_recognizer.save_pretrained(tmp_path / "stage2")
    detector = ScannerSpanDetector.from_pretrained(tmp_path / "stage1").eval()
    recognizer = ScannerEntityRecognizer.from_pretrained(tmp_path / "stage2").eval()
    implementations = (detector.encoder.config._attn_implementation, recognizer.encoder.config._attn_implementation)
    words = [["steve", "kerr", "in", "paris"], ["the", "game"]]
    before = detector.predict_word_probabilities(words, tokenizer)
    ids = tokenizer(["the entity is [MASK] for steve in this sentence . steve kerr"], return_tensors="pt")
    with torch.no_grad():
        logits = recognizer(**ids).logits
        rebuilt = ScannerForMultimodalNER.from_stages(detector, recognizer)
        assert (rebuilt.span_detector.encoder.config._attn_implementation, rebuilt.entity_recognizer.encoder.config._attn_implementation) == implementations
        assert torch.equal(rebuilt.entity_recognizer(**ids).logits, logits)
    after = rebuilt.span_detector.predict_word_probabilities(words, tokenizer)
    assert all(torch.equal(a, b) for a, b in zip(before, after))
