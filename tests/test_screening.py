"""Screening: a typed stage 1's types are the first answer and stage 2 types only the candidates below
the threshold; in the composite checkpoint, the pipeline, the CLI and the config checks."""

import json

import pytest
import torch
from conftest import composite, write_twitter_folder
from transformers import pipeline

from scanner_hf import (
    ScannerConfig,
    ScannerForMultimodalNER,
    ScannerNERPipeline,
    ScannerProcessor,
    ScannerSpanDetector,
    ScannerSpanDetectorConfig,
)
from scanner_hf.cli import main
from scanner_hf.inference import (
    Screening,
    candidate_inputs,
    detect_candidates,
    recognize,
    recognize_screened,
)


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
    model, tokenizer = typed_composite(tiny_tokenizer, tiny_encoder_config, stage1_screening=True, screening_threshold=0.5)
    folder = tmp_path / "typed"
    ScannerNERPipeline(model=model, tokenizer=tokenizer).save_pretrained(folder)
    ner = pipeline("scanner-ner", model=str(folder))
    assert ner.model.config.stage1_screening and ner.screening == Screening(0.5)
    text = "Steve Kerr in PARIS!"
    assert {e["entity_group"] for e in ner(text)} == {"PER"}  # stage 1: PER at 0.88 >= 0.5, stage 2 not asked
    assert {e["entity_group"] for e in pipeline("scanner-ner", model=str(folder), screening_threshold=0.95)(text)} == {"LOC"}
    assert {e["entity_group"] for e in pipeline("scanner-ner", model=str(folder), screen=False)(text)} == {"LOC"}
    # the same detector without stage1_screening: stage 2 types everything
    unscreened, _ = typed_composite(tiny_tokenizer, tiny_encoder_config)
    assert ScannerNERPipeline(model=unscreened, tokenizer=tokenizer).screening is None
    assert {e["entity_group"] for e in ScannerNERPipeline(model=unscreened, tokenizer=tokenizer)(text)} == {"LOC"}
    with pytest.raises(ValueError, match="screening_threshold is for checkpoints that screen"):
        ScannerNERPipeline(model=unscreened, tokenizer=tokenizer, screening_threshold=0.5)


def test_config_refuses_stage1_screening_it_cannot_do(tiny_tokenizer, tiny_encoder_config):
    stages, tokenizer = composite(tiny_tokenizer, tiny_encoder_config)
    with pytest.raises(ValueError, match="needs a typed span detector"):
        ScannerForMultimodalNER.from_stages(stages.span_detector, stages.entity_recognizer, stage1_screening=True)
    odd = ScannerSpanDetector(ScannerSpanDetectorConfig(encoder_config=stages.span_detector.config.encoder_config, entity_types=["PER", "EVENT"]))
    with pytest.raises(ValueError, match="not all the entity recogniser's"):
        ScannerForMultimodalNER.from_stages(odd, stages.entity_recognizer, stage1_screening=True)
    grounding, _ = composite(tiny_tokenizer, tiny_encoder_config, grounding_weight=1.0)
    typed, _ = typed_composite(tiny_tokenizer, tiny_encoder_config)
    with pytest.raises(ValueError, match="without boxes"):
        ScannerForMultimodalNER.from_stages(typed.span_detector, grounding.entity_recognizer, stage1_screening=True)
    with pytest.raises(ValueError, match="distinct types"):
        ScannerSpanDetectorConfig(entity_types=["PER", "PER"])
    with pytest.raises(ValueError, match="screening_threshold"):
        ScannerConfig(screening_threshold=True)


def test_only_candidates_below_the_threshold_are_typed_again(tiny_tokenizer, tiny_encoder_config):
    model, tokenizer = typed_composite(tiny_tokenizer, tiny_encoder_config, per_margin=0.5)
    words = [["steve", "kerr", "praises", "paris"], ["london", "and", "paris"]]
    candidates = detect_candidates(model.span_detector, tokenizer, words)
    items = candidate_inputs(words, [None, None], candidates)
    recognizer = model.entity_recognizer
    builder = ScannerProcessor(tokenizer).prompt_builder(recognizer.config)
    first, alone = Screening(1.0).first_pass(recognizer, candidates), recognize(recognizer, builder, items)
    assert {recognizer.config.id2label[label] for label, _, _, _ in first} == {"PER"}
    for threshold, typed_again in ((0.0, 0), (0.99, len(items))):
        screened = recognize_screened(recognizer, builder, items, Screening(threshold), candidates)
        assert screened == (first if typed_again == 0 else alone)
    assert recognize_screened(recognizer, builder, items, None, candidates) == alone


def test_cli_predicts_and_evaluates_through_stage1_screening(tmp_path, tiny_tokenizer, tiny_encoder_config, capsys):
    model, tokenizer = typed_composite(tiny_tokenizer, tiny_encoder_config, stage1_screening=True, screening_threshold=0.5)
    folder = tmp_path / "screened"
    ScannerNERPipeline(model=model, tokenizer=tokenizer).save_pretrained(folder)

    def predicted(*options):
        main(["predict", "steve kerr in paris", "--model", str(folder), *options])
        return {entity["entity_group"] for entity in json.loads(capsys.readouterr().out)}

    assert predicted() == {"PER"} and predicted("--screening-threshold", "0.95") == {"LOC"} and predicted("--no-screen") == {"LOC"}
    data = write_twitter_folder(tmp_path / "data")
    scores = {}
    for options in ((), ("--no-screen",)):
        main(["evaluate", "--model", str(folder), "--dataset", "twitter2017", "--data-dir", str(data), *options])
        scores[options] = json.loads(capsys.readouterr().out)
    # stage 1 says PER, stage 2 says LOC: evaluation follows the same path as the pipeline
    assert scores[()].get("PER_f1", 0) > 0 and scores[("--no-screen",)].get("PER_f1", 0) == 0


def test_checkpoints_of_0_1_load_or_say_what_was_removed(tmp_path, tiny_tokenizer, tiny_encoder_config):
    model, tokenizer = typed_composite(tiny_tokenizer, tiny_encoder_config, stage1_screening=True, screening_threshold=0.5)
    folder = tmp_path / "old"
    ScannerNERPipeline(model=model, tokenizer=tokenizer).save_pretrained(folder)
    saved = json.loads((folder / "config.json").read_text())
    old = dict(saved, detector_screening=saved.pop("stage1_screening"), screener_config=None,  # 0.1's names
               inference_optimization=saved.pop("optimize"))
    old["entity_recognizer_config"] = dict(saved["entity_recognizer_config"], packed_candidates=False, prompt_head="template",
                                           word_shapes=False, max_pack_tokens=512)
    (folder / "config.json").write_text(json.dumps(old))
    loaded = pipeline("scanner-ner", model=str(folder)).model.config
    assert loaded.stage1_screening and loaded.optimize == "none"
    for key, value in (("packed_candidates", True), ("prompt_head", "short"), ("word_shapes", True)):
        (folder / "config.json").write_text(json.dumps(dict(old, entity_recognizer_config=dict(old["entity_recognizer_config"], **{key: value}))))
        with pytest.raises(ValueError, match=f"{key}=.*removed in scanner-hf 0.2.*scanner-hf 0.1"):
            pipeline("scanner-ner", model=str(folder))
    (folder / "config.json").write_text(json.dumps(dict(old, screener_config=old["entity_recognizer_config"])))
    with pytest.raises(ValueError, match="screener_config=.*removed in scanner-hf 0.2"):
        pipeline("scanner-ner", model=str(folder))
    # a checkpoint trained with stage-1 knowledge (tried after 0.2, removed before a release) is refused, saying why
    (folder / "config.json").write_text(json.dumps(dict(saved, kb_candidates=False, span_detector_config=dict(
        saved["span_detector_config"], kb_features=False, kb_feature_dropout=0.1, kb_common_words=None))))
    assert not hasattr(pipeline("scanner-ner", model=str(folder)).model.config, "kb_candidates")
    for config in (dict(saved, kb_candidates=True), dict(saved, span_detector_config=dict(saved["span_detector_config"], kb_features=True))):
        (folder / "config.json").write_text(json.dumps(config))
        with pytest.raises(ValueError, match="kb_.*=True, which was removed before scanner-hf 0.3 .*Stage-1 knowledge"):
            pipeline("scanner-ner", model=str(folder))
