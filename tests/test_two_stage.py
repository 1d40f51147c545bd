"""Two-stage inference: candidates from stage 1, non-entity removal, box choice, scoring."""

import pytest
import torch
from conftest import stage2_tokenizer_from

from scanner_hf import (
    ScannerEntityRecognizer,
    ScannerEntityRecognizerConfig,
    ScannerSpanDetector,
    ScannerSpanDetectorConfig,
)
from scanner_hf.inference import RecognizedEntity, entities_to_tags, predict_entities
from scanner_hf.knowledge import DetectedObject, Knowledge, KnowledgeProvider
from scanner_hf.prompting import PromptBuilder


@pytest.fixture()
def parts(tiny_tokenizer, tiny_encoder_config):
    torch.manual_seed(0)
    detector = ScannerSpanDetector(ScannerSpanDetectorConfig(encoder_config=tiny_encoder_config)).eval()
    with torch.no_grad():  # every word is its own span: tag B everywhere
        detector.classifier.weight.zero_()
        detector.classifier.bias.copy_(torch.tensor([0.0, 10.0, 0.0]))
    tokenizer = stage2_tokenizer_from(tiny_tokenizer)
    encoder_config = tiny_encoder_config.__class__(**{**tiny_encoder_config.to_dict(), "vocab_size": len(tokenizer)})
    recognizer = ScannerEntityRecognizer(
        ScannerEntityRecognizerConfig(
            encoder_config=encoder_config, entity_types=["PER", "LOC"], max_objects=2, grounding_weight=1.0,
            mask_token_id=tokenizer.mask_token_id, object_token_id=tokenizer.convert_tokens_to_ids("<obj>"),
        )
    ).eval()
    return detector, tiny_tokenizer, recognizer, PromptBuilder(tokenizer, max_length=64, max_objects=2)


def force(recognizer, label_id, overlap_bias):
    with torch.no_grad():
        recognizer.classifier.weight.zero_()
        recognizer.classifier.bias.zero_()
        recognizer.classifier.bias[label_id] = 10.0
        recognizer.grounding_head.weight.zero_()
        recognizer.grounding_head.bias.fill_(overlap_bias)


class Boxes(KnowledgeProvider):
    def provide(self, request):
        return Knowledge(objects=[DetectedObject("person", box=(1, 2, 3, 4)), DetectedObject("ball", box=(5, 6, 7, 8))])


def test_non_entity_predictions_remove_candidates(parts):
    detector, detector_tokenizer, recognizer, builder = parts
    force(recognizer, recognizer.config.non_entity_id, 0.0)
    tokens = [["steve", "kerr"], ["paris"]]
    assert predict_entities(detector, detector_tokenizer, recognizer, builder, tokens) == [[], []]


def test_typed_entities_and_grounded_boxes(parts):
    detector, detector_tokenizer, recognizer, builder = parts
    force(recognizer, 1, 5.0)  # LOC, overlap sigmoid(5) > 0.5
    tokens = [["steve", "kerr"], ["paris"]]
    entities = predict_entities(detector, detector_tokenizer, recognizer, builder, tokens, ["a", "b"], [Boxes()])
    assert [[(e.start, e.end, e.label) for e in sentence] for sentence in entities] == [[(0, 1, "LOC"), (1, 2, "LOC")], [(0, 1, "LOC")]]
    assert entities[0][0].box == (1, 2, 3, 4) and entities[0][0].box_score == pytest.approx(torch.sigmoid(torch.tensor(5.0)).item())
    assert entities[0][0].score > 0.99
    force(recognizer, 0, -5.0)  # overlap below 0.5: not grounded
    entities = predict_entities(detector, detector_tokenizer, recognizer, builder, tokens, ["a", "b"], [Boxes()])
    assert entities[1][0].label == "PER" and entities[1][0].box is None and entities[1][0].box_score < 0.5


def test_entities_to_tags():
    entities = [RecognizedEntity(0, 0, 2, "PER", 0.9), RecognizedEntity(0, 3, 4, "LOC", 0.8)]
    assert entities_to_tags(entities, 4) == ["B-PER", "I-PER", "O", "B-LOC"]
    assert entities_to_tags([], 2) == ["O", "O"]
