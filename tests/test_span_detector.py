"""Stage 1: composite config, loss, Auto-class round trip, decoding to character spans, windowing."""

import json

import pytest
import torch
from transformers import AutoConfig, AutoModel, BertConfig

import scanner_hf  # noqa: F401  (registers the Auto classes)
from scanner_hf import ScannerSpanDetector, ScannerSpanDetectorConfig
from scanner_hf.modeling_span_detector import decode_bio


@pytest.fixture()
def detector(tiny_encoder_config):
    torch.manual_seed(0)
    return ScannerSpanDetector(ScannerSpanDetectorConfig(encoder_config=tiny_encoder_config)).eval()


def test_config_nests_encoder_config_as_sub_config(tiny_encoder_config, tmp_path):
    config = ScannerSpanDetectorConfig(encoder_config=tiny_encoder_config.to_dict())
    assert isinstance(config.encoder_config, BertConfig)
    assert config.id2label == {0: "O", 1: "B", 2: "I"} and config.num_labels == 3
    assert not hasattr(config, "hidden_size")  # no fallback into the encoder's attributes
    config.save_pretrained(tmp_path)
    saved = json.loads((tmp_path / "config.json").read_text())
    assert saved["encoder_config"]["model_type"] == "bert"
    reloaded = AutoConfig.from_pretrained(tmp_path)
    assert isinstance(reloaded, ScannerSpanDetectorConfig)
    assert reloaded.encoder_config.hidden_size == tiny_encoder_config.hidden_size


def test_loss_ignores_unlabelled_positions_and_honours_num_items(detector):
    input_ids = torch.randint(5, 40, (2, 6))
    labels = torch.tensor([[-100, 1, 2, 0, -100, -100], [-100, 0, 0, 1, 2, -100]])
    output = detector(input_ids=input_ids, labels=labels)
    keep = labels != -100
    expected = torch.nn.functional.cross_entropy(output.logits[keep], labels[keep])
    assert output.loss.item() == pytest.approx(expected.item(), rel=1e-5)
    summed = detector(input_ids=input_ids, labels=labels, num_items_in_batch=keep.sum() * 2)
    assert summed.loss.item() == pytest.approx(expected.item() / 2, rel=1e-5)
    assert output.logits.shape == (2, 6, 3)


def test_save_and_auto_model_round_trip(detector, tmp_path):
    detector.save_pretrained(tmp_path)
    assert (tmp_path / "model.safetensors").exists()
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["auto_map"]["AutoModel"] == "modeling_span_detector.ScannerSpanDetector"
    loaded = AutoModel.from_pretrained(tmp_path).eval()
    assert isinstance(loaded, ScannerSpanDetector)
    input_ids = torch.randint(5, 40, (2, 7))
    torch.testing.assert_close(loaded(input_ids=input_ids).logits, detector(input_ids=input_ids).logits)


def test_from_encoder_loads_pretrained_weights(tiny_backbone_dir):
    detector = ScannerSpanDetector.from_encoder(str(tiny_backbone_dir))
    original = AutoModel.from_pretrained(tiny_backbone_dir)
    torch.testing.assert_close(
        detector.encoder.embeddings.word_embeddings.weight, original.embeddings.word_embeddings.weight
    )
    assert not any(name.startswith("encoder.pooler") for name, _ in detector.named_parameters())


def test_decode_bio_spans_and_scores():
    probabilities = torch.tensor(
        [[0.1, 0.8, 0.1], [0.2, 0.1, 0.7], [0.9, 0.05, 0.05], [0.1, 0.2, 0.7], [0.1, 0.6, 0.3]]
    )
    spans = decode_bio(probabilities)
    assert [(s, e) for s, e, _ in spans] == [(0, 2), (3, 4), (4, 5)]
    assert spans[0][2] == pytest.approx((0.8 + 0.7) / 2)


def test_predict_spans_returns_character_offsets(detector, tiny_tokenizer):
    vocab = tiny_tokenizer.get_vocab()
    entity_ids = {vocab["steve"], vocab["kerr"], vocab["paris"]}

    def fake_logits(module, inputs, output):
        ids = fake_logits.input_ids
        tags = torch.zeros_like(ids)
        for row in range(ids.shape[0]):
            previous_entity = False
            for col in range(ids.shape[1]):
                is_entity = ids[row, col].item() in entity_ids
                tags[row, col] = (2 if previous_entity else 1) if is_entity else 0
                previous_entity = is_entity
        return torch.nn.functional.one_hot(tags, 3).float() * 10

    original_forward = detector.forward

    def forward(input_ids=None, **kwargs):
        fake_logits.input_ids = input_ids
        return original_forward(input_ids=input_ids, **kwargs)

    detector.classifier.register_forward_hook(fake_logits)
    detector.forward = forward
    text = "Steve  Kerr praises the warriors in Paris!"
    [spans] = detector.predict_spans([text], tiny_tokenizer)
    assert [(s.text, text[s.start : s.end]) for s in spans] == [("Steve  Kerr", "Steve  Kerr"), ("Paris", "Paris")]
    assert all(0.99 < s.score <= 1.0 for s in spans)
    [from_words] = detector.predict_spans([["in", "Paris", "!"]], tiny_tokenizer)
    assert [(s.start_word, s.end_word, s.start, s.end) for s in from_words] == [(1, 2, 3, 8)]


def test_long_input_is_windowed_and_every_word_scored(detector, tiny_tokenizer):
    # 200 single-sub-word words: more than the encoder's 128 positions, so this only runs windowed
    words = ["steve", "kerr", "praises", "the", "warriors"] * 40
    [probabilities] = detector.predict_word_probabilities([words], tiny_tokenizer, window_overlap=8)
    assert probabilities.shape == (200, 3)
    torch.testing.assert_close(probabilities.sum(-1), torch.ones(200))
    [short] = detector.predict_word_probabilities([words[:20]], tiny_tokenizer)
    assert short.shape == (20, 3)


def test_mixed_lengths_are_batched_by_length_and_each_sentence_gets_its_own_scores(detector, tiny_tokenizer):
    # texts of 1 to 150 words (the longest windowed) in batches of 3: batching sorts them by length,
    # so each sentence's probabilities must come back to it, the same as when it runs alone
    sentences = [["steve", "kerr", "praises", "the", "warriors"][: 1 + n % 5] * (1 + n % 30) for n in range(0, 40, 3)]
    sentences.append([])
    together = detector.predict_word_probabilities(sentences, tiny_tokenizer, batch_size=3)
    for words, probabilities in zip(sentences, together):
        [alone] = detector.predict_word_probabilities([words], tiny_tokenizer)
        torch.testing.assert_close(probabilities, alone, atol=1e-5, rtol=1e-4)


def test_subword_counts_many_matches_one_sentence_at_a_time(tiny_tokenizer):
    from scanner_hf.tokenization import subword_counts, subword_counts_many

    sentences = [["Kerr", "praises", "unbelievablyness"], [], ["[MASK]", "<obj>", ""]]
    assert subword_counts_many(tiny_tokenizer, sentences) == [subword_counts(tiny_tokenizer, words) for words in sentences]
    assert subword_counts_many(tiny_tokenizer, []) == []


def test_word_shapes_of_tweet_words():
    from scanner_hf.tokenization import WORD_SHAPES, first_subword_shapes, word_shape

    shapes = {w: WORD_SHAPES[word_shape(w)] for w in ("kerr", "Kerr", "NBA", "iPhone", "2017", "#NBAFinals", "@nba", "!", "A", "https://t.co/x", "B2B")}
    assert shapes == {"kerr": "lower", "Kerr": "capitalised", "NBA": "upper", "iPhone": "mixed", "2017": "digits",
                      "#NBAFinals": "hashtag", "@nba": "mention", "!": "punctuation", "A": "capitalised",
                      "https://t.co/x": "url", "B2B": "digits"}
    assert first_subword_shapes([None, 0, 0, 1, None], ["Warriors", "win"]) == [0, word_shape("Warriors"), 0, word_shape("win"), 0]


def test_word_shape_detector_learns_casing_and_round_trips(tiny_encoder_config, tiny_tokenizer, tmp_path):
    """With shapes, an uncased encoder can tell 'Paris' (a name) from 'paris' (not here): the same
    lower-cased sub-words, different labels only the shape can explain."""
    from datasets import ClassLabel, Dataset, Features, Sequence, Value
    from transformers import AutoTokenizer, set_seed

    from scanner_hf.training.stages import fit_span_detector, stage_training_arguments

    backbone = tmp_path / "backbone"
    AutoModel.from_config(tiny_encoder_config).save_pretrained(backbone)
    tiny_tokenizer.save_pretrained(backbone)
    rows = [(["I", "love", "Paris"], ["O", "O", "B-LOC"]), (["i", "love", "paris"], ["O", "O", "O"])] * 24
    names = ["O", "B-LOC", "I-LOC"]
    features = Features({"tokens": Sequence(Value("string")), "ner_tags": Sequence(ClassLabel(names=names))})
    split = Dataset.from_dict({"tokens": [r[0] for r in rows], "ner_tags": [[names.index(t) for t in r[1]] for r in rows]}, features=features)
    args = stage_training_arguments(str(tmp_path / "out"), select_best_on_dev=False, num_train_epochs=6, per_device_train_batch_size=8,
                                    learning_rate=5e-3, warmup_steps=0.0, seed=0)
    tokenizer = AutoTokenizer.from_pretrained(backbone)
    for shapes in (True, False):
        set_seed(0)
        detector = fit_span_detector(ScannerSpanDetector.from_encoder(str(backbone), word_shapes=shapes), tokenizer, split, args, max_length=16)
        spans = detector.predict_spans(["I love Paris", "i love paris"], tokenizer)
        found = [[span.text for span in sentence] for sentence in spans]
        if shapes:
            assert found == [["Paris"], []], found
            detector.save_pretrained(tmp_path / "saved")
            reloaded = ScannerSpanDetector.from_pretrained(tmp_path / "saved")
            assert reloaded.config.word_shapes and torch.equal(reloaded.shape_embeddings.weight, detector.shape_embeddings.weight)
            assert [[s.text for s in sentence] for sentence in reloaded.predict_spans(["I love Paris", "i love paris"], tokenizer)] == found
            with pytest.raises(ValueError, match="word_shape_ids"):
                reloaded(input_ids=torch.tensor([[2, 5, 3]]))
        else:  # without shapes both sentences look the same to the uncased encoder
            assert [[(x.start_word, x.end_word) for x in sentence] for sentence in spans] in ([[(2, 3)], [(2, 3)]], [[], []])


def test_propose_spans_adds_what_the_argmax_decode_misses_or_cuts():
    from scanner_hf.modeling_span_detector import propose_spans

    # "The World Cup final": arg-max says [The World Cup]; "World" also looks like a beginning
    probabilities = torch.tensor([[0.1, 0.8, 0.1], [0.1, 0.35, 0.55], [0.1, 0.1, 0.8], [0.7, 0.2, 0.1]])
    assert [(s, e) for s, e, _ in propose_spans(probabilities)] == [(0, 3)]
    assert [(s, e) for s, e, _ in propose_spans(probabilities, 0.3)] == [(0, 3), (1, 3)]
    # lower still: 'final' may begin a span too; every proposal keeps its mean begin/inside probability
    proposals = propose_spans(probabilities, 0.15)
    assert (3, 4) in [(s, e) for s, e, _ in proposals] and all(0 < score <= 1 for *_, score in proposals)
    assert propose_spans(torch.zeros(0, 3), 0.2) == []


def test_overlapping_accepted_spans_keep_stage2s_best():
    from scanner_hf.inference import RecognizedEntity, resolve_overlaps

    entities = [RecognizedEntity(0, 0, 3, "OTHER", 0.6), RecognizedEntity(0, 1, 3, "OTHER", 0.9), RecognizedEntity(0, 4, 5, "PER", 0.5)]
    assert [(e.start, e.end) for e in resolve_overlaps(entities)] == [(1, 3), (4, 5)]
