"""``ScannerProcessor``: the tokenizer, stage 1's window and stage 2's prompt settings, saved and loaded with
the checkpoint (``processor_config.json``); a 0.1 checkpoint's settings come from its config.json."""

import json

import pytest
from conftest import composite
from transformers import AutoProcessor, pipeline

from scanner_hf import ScannerForMultimodalNER, ScannerNERPipeline, ScannerProcessor


def test_the_processor_travels_with_the_checkpoint(tmp_path, tiny_tokenizer, tiny_encoder_config):
    model, tokenizer = composite(tiny_tokenizer, tiny_encoder_config)
    model.processor = ScannerProcessor(tokenizer, stage1_max_length=64, max_prompt_length=96, max_context_words=30)
    folder = tmp_path / "checkpoint"
    ScannerNERPipeline(model=model, tokenizer=tokenizer).save_pretrained(folder)
    saved = json.loads((folder / "processor_config.json").read_text())
    assert {k: saved[k] for k in ("stage1_max_length", "max_prompt_length", "max_context_words")} == {
        "stage1_max_length": 64, "max_prompt_length": 96, "max_context_words": 30}
    config = json.loads((folder / "config.json").read_text())  # one home per setting: not in the model config too
    assert "stage1_max_length" not in config and "max_prompt_length" not in config["entity_recognizer_config"]
    for loaded in (ScannerProcessor.from_pretrained(folder), AutoProcessor.from_pretrained(folder),
                   ScannerForMultimodalNER.from_pretrained(folder).processor, pipeline("scanner-ner", model=str(folder)).processor):
        assert isinstance(loaded, ScannerProcessor)
        assert (loaded.stage1_max_length, loaded.max_prompt_length, loaded.max_context_words) == (64, 96, 30)
        assert loaded.tokenizer.get_vocab() == tokenizer.get_vocab()
    builder = pipeline("scanner-ner", model=str(folder)).builder
    assert builder.max_length == min(96, tiny_encoder_config.max_position_embeddings) and builder.max_context_words == 30


def test_a_checkpoint_of_0_1_keeps_its_settings(tmp_path, tiny_tokenizer, tiny_encoder_config):
    model, tokenizer = composite(tiny_tokenizer, tiny_encoder_config)
    folder = tmp_path / "old"
    ScannerNERPipeline(model=model, tokenizer=tokenizer).save_pretrained(folder)
    (folder / "processor_config.json").unlink()  # 0.1 wrote none: its settings were in config.json
    config = json.loads((folder / "config.json").read_text())
    config["stage1_max_length"] = 48
    config["entity_recognizer_config"].update(max_prompt_length=80, max_context_words=20)
    (folder / "config.json").write_text(json.dumps(config))
    processor = ScannerForMultimodalNER.from_pretrained(folder).processor
    assert (processor.stage1_max_length, processor.max_prompt_length, processor.max_context_words) == (48, 80, 20)
    assert pipeline("scanner-ner", model=str(folder)).builder.max_context_words == 20


def test_processor_settings_are_checked_and_inputs_prepared(tiny_tokenizer):
    for wrong in ({"stage1_max_length": 0}, {"max_prompt_length": "long"}, {"max_context_words": -3}):
        with pytest.raises(ValueError, match="must be a positive number"):
            ScannerProcessor(tiny_tokenizer, **wrong)
    processor = ScannerProcessor(tiny_tokenizer)
    prepared = processor.prepare(["Steve  Kerr", {"text": "in Paris", "caption": "a city"}], knowledge=["a coach", None])
    assert [w.text for w in prepared[0].words] == ["Steve", "Kerr"] and prepared[0].knowledge.wikipedia == "a coach"
    assert prepared[1].knowledge.caption == "a city"
    with pytest.raises(ValueError, match="as many images"):
        processor.prepare(["a", "b"], images=[None])


def test_a_processor_setting_given_to_a_model_config_says_it_is_not_used(caplog):
    from transformers.utils import logging as hf_logging

    from scanner_hf import ScannerEntityRecognizerConfig

    hf_logging.enable_propagation()
    try:
        config = ScannerEntityRecognizerConfig(entity_types=["PER"], max_prompt_length=96)
    finally:
        hf_logging.disable_propagation()
    assert not hasattr(config, "max_prompt_length") or getattr(config, "max_prompt_length", None) is None
    assert "max_prompt_length is a ScannerProcessor setting" in caplog.text
