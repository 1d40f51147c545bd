"""Stage 2 model: slots, object padding/masking, the loss with and without objects, round trip."""

import pytest
import torch
from conftest import tiny_recognizer
from transformers import AutoModel

import scanner_hf  # noqa: F401
from scanner_hf import ScannerEntityRecognizer, ScannerEntityRecognizerConfig
from scanner_hf.knowledge import DetectedObject, Knowledge
from scanner_hf.processing_scanner import Stage2Collator
from scanner_hf.prompting import PromptBuilder, PromptInput


@pytest.fixture()
def tokenizer(stage2_tokenizer):
    return stage2_tokenizer


@pytest.fixture()
def model(tokenizer, tiny_encoder_config):
    return tiny_recognizer(tokenizer, tiny_encoder_config, max_objects=3, grounding_weight=1.0)


def batch_for(tokenizer, knowledge_per_item, labels=None, targets=None):
    builder = PromptBuilder(tokenizer, max_length=128, max_objects=3)
    items = [PromptInput(["steve", "kerr", "in", "paris"], 0, 2, k) for k in knowledge_per_item]
    features = [{"input_ids": p.input_ids} for p in builder.build(items)]
    for index, feature in enumerate(features):
        if labels is not None:
            feature["labels"] = labels[index]
        if targets is not None:
            feature["iou_targets"] = targets[index]
    return Stage2Collator(tokenizer, max_objects=3)(features)


def objects(n):
    return [DetectedObject(f"{name}", box=(0, 0, 10, 10)) for name in ["person", "ball", "hat", "cat"][:n]]


def test_objects_are_padded_and_masked(model, tokenizer):
    batch = batch_for(tokenizer, [Knowledge(objects=objects(0)), Knowledge(objects=objects(2)), Knowledge(objects=objects(4))])
    output = model(**batch)
    assert output.logits.shape == (3, 3)
    assert output.object_mask.tolist() == [[False, False, False], [True, True, False], [True, True, True]]
    assert output.overlap_logits.shape == (3, 3)


def test_padding_does_not_change_a_prompts_scores(model, tokenizer):
    alone = model(**batch_for(tokenizer, [Knowledge(objects=objects(1))]))
    padded = model(**batch_for(tokenizer, [Knowledge(objects=objects(1)), Knowledge(caption="a man at the game", objects=objects(3))]))
    torch.testing.assert_close(alone.logits[0], padded.logits[0], atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(alone.overlap_logits[0, :1], padded.overlap_logits[0, :1], atol=1e-5, rtol=1e-4)


def test_loss_with_and_without_objects(model, tokenizer):
    batch = batch_for(
        tokenizer, [Knowledge(objects=objects(2)), Knowledge()], labels=[0, 2], targets=[[0.9, 0.0], []]
    )
    output = model(**batch)
    expected_ce = torch.nn.functional.cross_entropy(output.logits, batch["labels"])
    # grounding: BCE summed over the first prompt's two objects, averaged over the 2 candidates
    expected_bce = torch.nn.functional.binary_cross_entropy_with_logits(
        output.overlap_logits[0, :2], torch.tensor([0.9, 0.0]), reduction="sum"
    ) / 2
    assert output.classification_loss.item() == pytest.approx(expected_ce.item(), rel=1e-5)
    assert output.grounding_loss.item() == pytest.approx(expected_bce.item(), rel=1e-5)
    assert output.loss.item() == pytest.approx(expected_ce.item() + expected_bce.item(), rel=1e-5)
    # no objects anywhere: the grounding loss is zero and still differentiable
    batch = batch_for(tokenizer, [Knowledge(), Knowledge()], labels=[0, 1], targets=[[], []])
    output = model(**batch)
    assert output.grounding_loss.item() == 0.0
    output.loss.backward()


def test_grounding_weight_zero_trains_types_only(model, tokenizer):
    model.config.grounding_weight = 0.0
    batch = batch_for(tokenizer, [Knowledge(objects=objects(2))], labels=[1], targets=[[0.5, 0.5]])
    output = model(**batch)
    assert output.grounding_loss is None and output.loss.item() == pytest.approx(output.classification_loss.item())


def test_prompt_without_mask_is_an_error(model):
    with pytest.raises(ValueError, match="mask token"):
        model(input_ids=torch.tensor([[2, 10, 11, 3]]))


def test_from_encoder_adds_obj_and_round_trips(tmp_path, tiny_backbone_dir, tiny_tokenizer):
    tokenizer = tiny_tokenizer.__class__(vocab=dict(tiny_tokenizer.get_vocab()))
    before = len(tokenizer)
    model = ScannerEntityRecognizer.from_encoder(str(tiny_backbone_dir), tokenizer, entity_types=["PER"]).eval()
    assert len(tokenizer) == before + 1
    assert model.config.encoder_config.vocab_size == len(tokenizer) == model.get_input_embeddings().weight.shape[0]
    model.save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    loaded = AutoModel.from_pretrained(tmp_path).eval()
    assert isinstance(loaded, ScannerEntityRecognizer)
    batch = batch_for(tokenizer, [Knowledge(objects=objects(1))])
    torch.testing.assert_close(loaded(**batch).logits, model(**batch).logits)
    assert loaded.config.id2label == {0: "PER", 1: "non-entity"}


def test_non_entity_is_not_a_type():
    with pytest.raises(ValueError, match="non-entity"):
        ScannerEntityRecognizerConfig(entity_types=["PER", "non-entity"])
