"""Screening: a packed recogniser (or a typed stage 1) types every candidate first, stage 2 only those it
is unsure of; in the composite checkpoint, the pipeline, the config checks and the ONNX path."""

import pytest
import torch
from conftest import composite, tiny_recognizer
from transformers import pipeline

from scanner_hf import (
    ScannerConfig,
    ScannerEntityRecognizer,
    ScannerEntityRecognizerConfig,
    ScannerForMultimodalNER,
    ScannerNERPipeline,
    ScannerSpanDetector,
    ScannerSpanDetectorConfig,
)
from scanner_hf.inference import PromptInput, Screening, recognize, recognize_screened
from scanner_hf.providers import Knowledge


def screener_for(tokenizer, tiny_encoder_config, per_bias: float, random_head: bool = False):
    """A tiny packed recogniser that leans to PER by ``per_bias`` (its head random, or zero: the same answer everywhere)."""
    screener = tiny_recognizer(tokenizer, tiny_encoder_config, max_prompt_length=64, packed_candidates=True, prompt_head="short")
    with torch.no_grad():
        if not random_head:
            screener.classifier.weight.zero_()
        screener.classifier.bias.copy_(torch.tensor([per_bias, 0.0, 0.0]))
    return screener


def test_only_candidates_below_the_threshold_are_typed_again(tiny_tokenizer, tiny_encoder_config):
    model, tokenizer = composite(tiny_tokenizer, tiny_encoder_config)
    screener = screener_for(tokenizer, tiny_encoder_config, 0.5, random_head=True)
    words = "steve kerr praises the warriors in paris and london".split()
    items = [PromptInput(words, start, start + length, Knowledge()) for start in range(8) for length in (1, 2)]
    recognizer, builder = model.entity_recognizer, model.entity_recognizer.prompt_builder(tokenizer)
    first = recognize(screener, screener.prompt_builder(tokenizer), items)
    alone = recognize(recognizer, builder, items)
    threshold = sorted(p for _, p, _, _ in first)[len(first) // 2]  # about half the candidates are unsure
    screening = Screening(screener, screener.prompt_builder(tokenizer), threshold)
    screened = recognize_screened(recognizer, builder, items, screening)
    unsure = [p < threshold for _, p, _, _ in first]
    assert 0 < sum(unsure) < len(items)
    assert screened == [again if u else kept for kept, again, u in zip(first, alone, unsure)]
    assert recognize_screened(recognizer, builder, items, None) == alone


def test_checkpoint_with_a_screener_round_trips_through_the_pipeline(tmp_path, tiny_tokenizer, tiny_encoder_config):
    stages, tokenizer = composite(tiny_tokenizer, tiny_encoder_config)  # stage 2 says LOC
    screener = screener_for(tokenizer, tiny_encoder_config, 2.0)  # says PER with probability e^2 / (e^2 + 2) = 0.79
    model = ScannerForMultimodalNER.from_stages(stages.span_detector, stages.entity_recognizer, screener, screening_threshold=0.5)
    folder = tmp_path / "screened"
    ScannerNERPipeline(model=model, tokenizer=tokenizer).save_pretrained(folder)
    ner = pipeline("scanner-ner", model=str(folder))
    assert ner.model.screener is not None and ner.model.config.screening_threshold == 0.5
    text = "Steve Kerr in PARIS!"
    assert {e["entity_group"] for e in ner(text)} == {"PER"}  # 0.79 >= 0.5: the screener's answer stands
    assert {e["entity_group"] for e in pipeline("scanner-ner", model=str(folder), screening_threshold=0.9)(text)} == {"LOC"}
    assert {e["entity_group"] for e in pipeline("scanner-ner", model=str(folder), screen=False)(text)} == {"LOC"}
    plain = pipeline("scanner-ner", model=str(folder), screen=False)
    assert plain.screening is None
    with pytest.raises(ValueError, match="probability between 0 and 1"):
        pipeline("scanner-ner", model=str(folder), screening_threshold=1.5)


def test_config_refuses_screeners_that_cannot_stand_in(tiny_tokenizer, tiny_encoder_config):
    stages, tokenizer = composite(tiny_tokenizer, tiny_encoder_config)
    other_labels = ScannerEntityRecognizer(
        ScannerEntityRecognizerConfig(encoder_config=stages.entity_recognizer.config.encoder_config, entity_types=["ORG"], packed_candidates=True)
    )
    with pytest.raises(ValueError, match="labels"):
        ScannerForMultimodalNER.from_stages(stages.span_detector, stages.entity_recognizer, other_labels)
    grounding, _ = composite(tiny_tokenizer, tiny_encoder_config, grounding_weight=1.0)
    with pytest.raises(ValueError, match="grounding"):
        ScannerForMultimodalNER.from_stages(
            grounding.span_detector, grounding.entity_recognizer, screener_for(tokenizer, tiny_encoder_config, 0.0)
        )
    with pytest.raises(ValueError, match="screening_threshold"):
        ScannerConfig(screening_threshold=True)
    assert ScannerConfig().screener_config is None  # optional: no screener unless given


def test_onnx_path_swaps_the_screeners_encoder_too(tmp_path, tiny_tokenizer, tiny_encoder_config, monkeypatch):
    pytest.importorskip("onnxruntime")
    from scanner_hf.onnx_runtime import OnnxEncoder

    monkeypatch.setenv("SCANNER_HF_CACHE", str(tmp_path / "cache"))
    stages, tokenizer = composite(tiny_tokenizer, tiny_encoder_config)
    screener = screener_for(tokenizer, tiny_encoder_config, 0.5, random_head=True)
    model = ScannerForMultimodalNER.from_stages(stages.span_detector, stages.entity_recognizer, screener, screening_threshold=0.6)
    expected = ScannerNERPipeline(model=model, tokenizer=tokenizer)("Steve Kerr in PARIS and london")
    fast = ScannerNERPipeline(model=model, tokenizer=tokenizer, optimize="onnx")
    assert isinstance(fast.model.screener.encoder, OnnxEncoder)
    found = fast("Steve Kerr in PARIS and london")
    assert [(e["word"], e["entity_group"]) for e in found] == [(e["word"], e["entity_group"]) for e in expected]


def test_cli_predicts_and_evaluates_through_the_screener(tmp_path, tiny_tokenizer, tiny_encoder_config, capsys):
    import json

    from conftest import write_twitter_folder

    from scanner_hf.cli import main

    stages, tokenizer = composite(tiny_tokenizer, tiny_encoder_config)
    model = ScannerForMultimodalNER.from_stages(
        stages.span_detector, stages.entity_recognizer, screener_for(tokenizer, tiny_encoder_config, 2.0), screening_threshold=0.5
    )
    folder = tmp_path / "screened"
    ScannerNERPipeline(model=model, tokenizer=tokenizer).save_pretrained(folder)

    def predicted(*options):
        main(["predict", "steve kerr in paris", "--model", str(folder), *options])
        return {entity["entity_group"] for entity in json.loads(capsys.readouterr().out)}

    assert predicted() == {"PER"} and predicted("--screening-threshold", "0.9") == {"LOC"} and predicted("--no-screen") == {"LOC"}
    data = write_twitter_folder(tmp_path / "data")
    scores = {}
    for options in ((), ("--no-screen",)):
        main(["evaluate", "--model", str(folder), "--dataset", "twitter2017", "--data-dir", str(data), *options])
        scores[options] = json.loads(capsys.readouterr().out)
    # the screener says PER, stage 2 says LOC: evaluation follows the same path as the pipeline
    assert scores[()].get("PER_f1", 0) > 0 and scores[("--no-screen",)].get("PER_f1", 0) == 0


def typed_composite(tiny_tokenizer, tiny_encoder_config, per_margin: float = 2.0, **config_kwargs):
    """The tiny composite with a typed stage 1 (PER, LOC) that tags ENTITY_WORDS as B-PER over B-LOC by
    ``per_margin`` in logits (type score of PER: e^m / (e^m + 1), 0.88 for 2), stage 2 still saying LOC."""
    stages, tokenizer = composite(tiny_tokenizer, tiny_encoder_config)
    untyped = stages.span_detector
    config = ScannerSpanDetectorConfig(encoder_config=untyped.config.encoder_config, entity_types=["PER", "LOC"])
    detector = ScannerSpanDetector(config)
    detector.encoder.load_state_dict(untyped.encoder.state_dict())
    with torch.no_grad():  # labels O, B-PER, B-LOC, I-PER, I-LOC; the marker dimension (0) says "entity word"
        detector.classifier.weight.zero_()
        detector.classifier.weight[1:3, 0] = 1.0
        detector.classifier.bias.copy_(torch.tensor([0.0, -2.0 + per_margin, -2.0, -50.0, -50.0]))
    model = ScannerForMultimodalNER.from_stages(detector, stages.entity_recognizer, **config_kwargs)
    return model, tokenizer


def test_typed_detector_decodes_spans_as_before_and_scores_types(tiny_tokenizer, tiny_encoder_config):
    from scanner_hf.inference import detect_candidates
    from scanner_hf.modeling_span_detector import span_tag_probabilities

    model, tokenizer = typed_composite(tiny_tokenizer, tiny_encoder_config)
    detector = model.span_detector
    assert detector.config.id2label == {0: "O", 1: "B-PER", 2: "B-LOC", 3: "I-PER", 4: "I-LOC"}
    words = [["steve", "kerr", "praises", "paris"]]
    typed = detector.predict_word_probabilities(words, tokenizer, typed=True)[0]
    assert typed.shape == (4, 5)
    torch.testing.assert_close(detector.predict_word_probabilities(words, tokenizer)[0], span_tag_probabilities(typed))
    candidates = detect_candidates(detector, tokenizer, words)
    assert [(c.start, c.end) for c in candidates] == [(0, 1), (1, 2), (3, 4)]  # B B O B, as an untyped detector decodes it
    per = torch.tensor(2.0).exp() / (torch.tensor(2.0).exp() + 1)
    for candidate in candidates:
        assert set(candidate.type_scores) == {"PER", "LOC"}
        assert candidate.type_scores["PER"] == pytest.approx(float(per), abs=0.01)
    # typed training labels: the loss is over the typed BIO labels
    labels = torch.tensor([[-100, 1, 3, 0, 2, -100]])
    encoded = tokenizer(["steve kerr praises paris"], return_tensors="pt")
    assert encoded["input_ids"].shape[1] == 6
    output = detector(**encoded, labels=labels)
    keep = labels[0] != -100
    torch.testing.assert_close(output.loss, torch.nn.functional.cross_entropy(output.logits[0][keep], labels[0][keep]))


def test_a_typed_detector_alone_says_the_type_of_each_span(tiny_tokenizer, tiny_encoder_config):
    untyped_model, tokenizer = composite(tiny_tokenizer, tiny_encoder_config)
    text = "steve kerr praises paris"
    assert all(span.label is None and span.type_scores is None for span in untyped_model.span_detector.predict_spans([text], tokenizer)[0])
    for margin, expected in ((2.0, "PER"), (-2.0, "LOC")):
        model, _ = typed_composite(tiny_tokenizer, tiny_encoder_config, per_margin=margin)
        [spans] = model.span_detector.predict_spans([text], tokenizer)
        assert [(span.text, span.label) for span in spans] == [("steve", expected), ("kerr", expected), ("paris", expected)]
        for span in spans:
            assert set(span.type_scores) == {"PER", "LOC"} and max(span.type_scores, key=span.type_scores.get) == expected


def test_stage1_types_screen_candidates_in_the_saved_checkpoint(tmp_path, tiny_tokenizer, tiny_encoder_config):
    model, tokenizer = typed_composite(tiny_tokenizer, tiny_encoder_config, detector_screening=True, screening_threshold=0.5)
    folder = tmp_path / "typed"
    ScannerNERPipeline(model=model, tokenizer=tokenizer).save_pretrained(folder)
    ner = pipeline("scanner-ner", model=str(folder))
    assert ner.model.config.detector_screening and ner.model.screener is None and ner.screening.screener is None
    text = "Steve Kerr in PARIS!"
    assert {e["entity_group"] for e in ner(text)} == {"PER"}  # stage 1: PER at 0.88 >= 0.5, stage 2 not asked
    assert {e["entity_group"] for e in pipeline("scanner-ner", model=str(folder), screening_threshold=0.95)(text)} == {"LOC"}
    assert {e["entity_group"] for e in pipeline("scanner-ner", model=str(folder), screen=False)(text)} == {"LOC"}
    # the same detector without detector_screening: stage 2 types everything
    unscreened, _ = typed_composite(tiny_tokenizer, tiny_encoder_config)
    assert unscreened.screening(tokenizer) is None
    assert {e["entity_group"] for e in ScannerNERPipeline(model=unscreened, tokenizer=tokenizer)(text)} == {"LOC"}
    with pytest.raises(ValueError, match="screening_threshold is for checkpoints that screen"):
        ScannerNERPipeline(model=unscreened, tokenizer=tokenizer, screening_threshold=0.5)


def test_config_refuses_detector_screening_it_cannot_do(tiny_tokenizer, tiny_encoder_config):
    stages, tokenizer = composite(tiny_tokenizer, tiny_encoder_config)
    with pytest.raises(ValueError, match="needs a typed span detector"):
        ScannerForMultimodalNER.from_stages(stages.span_detector, stages.entity_recognizer, detector_screening=True)
    odd = ScannerSpanDetector(ScannerSpanDetectorConfig(encoder_config=stages.span_detector.config.encoder_config, entity_types=["PER", "EVENT"]))
    with pytest.raises(ValueError, match="not all the entity recogniser's"):
        ScannerForMultimodalNER.from_stages(odd, stages.entity_recognizer, detector_screening=True)
    typed, _ = typed_composite(tiny_tokenizer, tiny_encoder_config)
    with pytest.raises(ValueError, match="exclude each other"):
        ScannerForMultimodalNER.from_stages(
            typed.span_detector, typed.entity_recognizer, screener_for(tokenizer, tiny_encoder_config, 0.0), detector_screening=True
        )
    with pytest.raises(ValueError, match="distinct types"):
        ScannerSpanDetectorConfig(entity_types=["PER", "PER"])
