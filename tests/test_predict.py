"""``model.predict`` on the composite (the pipeline's inference path), ``from_encoder``, the tokenizer
that travels with the model, and the layers: modeling imports no inference, pipeline or training code."""

import ast
from pathlib import Path

import pytest
import torch
from transformers import pipeline

import scanner_hf
from scanner_hf import ScannerForMultimodalNER

INPUTS = [
    "Look:  Steve Kerr in PARIS!",
    "nothing here at all",
    {"text": "steve kerr visits paris", "caption": "a man", "knowledge": "a coach"},
    {"words": ["Kerr", "in", "Paris"]},
]


def test_predict_returns_what_the_pipeline_returns(saved):
    ner = pipeline("scanner-ner", model=str(saved))
    model = ScannerForMultimodalNER.from_pretrained(saved)
    assert model.tokenizer is not None and "<obj>" in model.tokenizer.get_vocab()
    expected = ner(INPUTS)
    assert any(expected) and model.predict(INPUTS) == expected
    assert model.predict(INPUTS[0]) == ner(INPUTS[0])  # one input: one list of entities
    words = ["Steve", "Kerr", "rocks"]
    assert model.predict(words, is_split_into_words=True) == ner(words, is_split_into_words=True)
    # knowledge given per input, as a dict input would carry it
    with_knowledge = model.predict(["steve kerr visits paris"], knowledge=[{"caption": "a man", "wikipedia": "a coach"}])
    assert with_knowledge == ner([{"text": "steve kerr visits paris", "caption": "a man", "knowledge": {"wikipedia": "a coach"}}])
    assert model.predict(INPUTS, batch_size=1) == expected


def test_predict_says_what_is_wrong(saved, tmp_path):
    model = ScannerForMultimodalNER.from_pretrained(saved)
    with pytest.raises(ValueError, match="as many images"):
        model.predict(["a", "b"], images=[None])
    with pytest.raises(ValueError, match="batch_size"):
        model.predict(["a"], batch_size=0)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        model.predict("steve kerr", images=str(tmp_path / "missing.jpg"))
    with pytest.raises(ValueError, match="screening_threshold is for checkpoints that screen"):
        model.predict("steve kerr", screening_threshold=0.5)
    model.tokenizer = None
    with pytest.raises(ValueError, match="no tokenizer"):
        model.predict("steve kerr")


def test_from_encoder_builds_the_untrained_composite(tmp_path, tiny_backbone_dir):
    model = ScannerForMultimodalNER.from_encoder(str(tiny_backbone_dir), entity_types=["PER", "LOC"], word_shapes=True,
                                                 max_prompt_length=48, candidate_threshold=0.2)
    assert model.config.entity_recognizer_config.entity_types == ["PER", "LOC"]
    assert model.span_detector.config.word_shapes and model.span_detector.config.entity_types is None
    assert model.processor.max_prompt_length == 48 and model.config.candidate_threshold == 0.2
    assert model.tokenizer.convert_tokens_to_ids("<obj>") == model.config.entity_recognizer_config.object_token_id
    assert isinstance(model.predict(["steve kerr in paris"]), list)  # untrained, but it runs
    # both stages start from the backbone's weights
    detector_embeddings = model.span_detector.encoder.get_input_embeddings().weight
    recognizer_embeddings = model.entity_recognizer.encoder.get_input_embeddings().weight
    torch.testing.assert_close(detector_embeddings[:-1], recognizer_embeddings[:-1])
    model.save_pretrained(tmp_path / "untrained")
    reloaded = ScannerForMultimodalNER.from_pretrained(tmp_path / "untrained")
    assert reloaded.tokenizer.get_vocab() == model.tokenizer.get_vocab()
    assert reloaded.predict(["steve kerr in paris"]) == model.predict(["steve kerr in paris"])
    typed = ScannerForMultimodalNER.from_encoder(str(tiny_backbone_dir), entity_types=["PER", "LOC"], stage1_screening=True)
    assert typed.span_detector.config.entity_types == ["PER", "LOC"] and typed.config.stage1_screening
    with pytest.raises(TypeError, match="unknown settings \\['stage2_packed'\\]"):
        ScannerForMultimodalNER.from_encoder(str(tiny_backbone_dir), entity_types=["PER"], stage2_packed=True)
    with pytest.raises(ValueError, match="needs the entity types"):
        ScannerForMultimodalNER.from_encoder(str(tiny_backbone_dir), entity_types=[])


INFERENCE_AND_ABOVE = {"inference", "pipeline", "cli", "trainer", "training", "two_stage", "evaluation", "recipe", "audit", "data"}


def top_level_imports(path: Path) -> set[str]:
    """The package modules a file imports at module level (relative imports, first name)."""
    names = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.ImportFrom) and node.level >= 1 and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_modeling_imports_no_inference_pipeline_or_training_code():
    package = Path(scanner_hf.__file__).parent
    for path in sorted(package.glob("modeling_*.py")) + [package / "configuration.py"]:
        assert not top_level_imports(path) & INFERENCE_AND_ABOVE, (path.name, top_level_imports(path))


def test_evaluation_runs_through_predict_and_scores_what_the_stages_score(tmp_path, tiny_tokenizer, tiny_encoder_config):
    from conftest import composite, write_twitter_folder

    from scanner_hf.data import load_ner_dataset
    from scanner_hf.evaluation.two_stage import evaluate_model, evaluate_two_stage

    model, tokenizer = composite(tiny_tokenizer, tiny_encoder_config)
    model.tokenizer = tokenizer  # the default processor
    splits = load_ner_dataset("twitter2017", data_dir=str(write_twitter_folder(tmp_path / "data")))
    through_predict = evaluate_model(model, splits["test"], train_split=splits["train"])
    by_stages = evaluate_two_stage(
        model.span_detector, tokenizer, model.entity_recognizer, model.processor.prompt_builder(model.entity_recognizer.config),
        splits["test"], train_split=splits["train"], max_length=model.processor.stage1_max_length,
    )
    assert through_predict == by_stages and through_predict["f1"] > 0


def test_return_knowledge_shows_the_entries_behind_each_entity(saved, tmp_path):
    from scanner_hf.knowledge.kb import KBKnowledge
    from scanner_hf.knowledge.kb_build import build_kb
    from scanner_hf.knowledge.kb_sources import KBRecord

    path = tmp_path / "kb.sqlite"
    build_kb([KBRecord("Steve Kerr", description="American basketball coach", aliases=["kerr"], types=["person"]),
              KBRecord("Paris", types=["city"])], path, source="test")
    providers = [KBKnowledge(path)]
    model = ScannerForMultimodalNER.from_pretrained(saved)
    text = "kerr fans in paris"
    plain = model.predict(text, providers=providers)
    found = model.predict(text, providers=providers, return_knowledge=True)
    assert [{k: v for k, v in e.items() if k != "knowledge"} for e in found] == plain and "knowledge" not in plain[0]
    by_word = {entity["word"]: entity["knowledge"] for entity in found}
    assert set(by_word) == {"kerr", "paris"}
    # "kerr" matched through the alias (a redirect in a real KB): that entry, its types and description
    [entry] = by_word["kerr"]["kb"]
    assert entry == {"title": "Steve Kerr", "types": ["person"], "description": "American basketball coach",
                     "matched_name": "kerr", "match": "alias"}
    assert "American basketball coach" in by_word["kerr"]["wikipedia"] and by_word["kerr"]["cut"] == {}
    assert by_word["paris"]["kb"][0]["title"] == "Paris" and by_word["paris"]["prompted"]
    # the token budget's cuts are marked: a prompt too short for the KB text shortens it
    model.processor.max_prompt_length = 40
    short = model.predict("paris", providers=[], return_knowledge=True,
                          knowledge={"wikipedia": "Paris is the capital of France " * 5, "caption": "a city at night"})
    assert short[0]["knowledge"]["cut"] == {"wikipedia": "shortened", "caption": "shortened"}
    model.processor.max_prompt_length = 256
    # the pipeline gives the same
    ner = pipeline("scanner-ner", model=model, tokenizer=model.tokenizer, providers=providers)
    assert ner(text, return_knowledge=True) == found
