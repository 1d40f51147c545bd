"""Stage-1 knowledge: KB names found in running text (normalised as lookups are, longest first, common
words held back), their tags aligned to first sub-words, a detector that learns from them, saves and
reloads them, survives a missing KB with one warning, and KB-proposed candidates that stage 2 decides."""

import json
import logging

import pytest
import torch
from conftest import write_twitter_folder
from transformers import set_seed

import scanner_hf.inference as inference_module
from scanner_hf import (
    KnowledgeSettings,
    ScannerForMultimodalNER,
    ScannerSpanDetector,
    ScannerSpanDetectorConfig,
    ScannerTrainer,
    ScannerTrainingArguments,
    stage_training_arguments,
)
from scanner_hf.data import entity_types_of, load_ner_dataset
from scanner_hf.inference import detect_candidates, kb_matches_for
from scanner_hf.knowledge.kb import EntityKB, KBKnowledge
from scanner_hf.knowledge.kb_build import build_kb_from_sources
from scanner_hf.knowledge.kb_matching import KBMatcher, bucket_of, common_words, match_scores
from scanner_hf.modeling_span_detector import drop_kb_features
from scanner_hf.providers import WordMatches
from scanner_hf.tokenization import KB_OUTSIDE, KB_TAGS, KB_UNKNOWN, encode_words_for_training, kb_tag_id
from scanner_hf.training.kb_features import choose_common_words, entity_kb

RECORDS = [
    {"title": "Steve Kerr", "types": ["person"]},
    {"title": "New York City", "aliases": ["NYC"], "types": ["city"]},
    {"title": "New York Mets", "types": ["sports team"]},
    {"title": "Paris", "types": ["city"]},
    {"title": "Google", "types": ["company"]},
    {"title": "The Game", "description": "a film"},  # an untyped title made of common words
    {"title": "Love", "types": ["film"]},
]


@pytest.fixture()
def kb(tmp_path) -> EntityKB:
    source = tmp_path / "kb.jsonl"
    source.write_text("\n".join(json.dumps(record) for record in RECORDS))
    return EntityKB(build_kb_from_sources([f"jsonl:{source}"], tmp_path / "kb.sqlite"))


def test_matches_are_normalised_longest_first_and_skip_common_words(kb):
    matcher = KBMatcher(kb, common_words=["the", "game", "love"])
    sentences = [["#NewYorkMets", "beat", "new", "york", "city", "fans"], ["love", "the", "game", "in", "@paris"],
                 ["steve", "kerr", "http://t.co/x", "google"]]
    first, second, third = matcher.match(sentences)
    assert first.spans == [(0, 1, "organisation"), (2, 5, "location")]  # camelCase hashtag; the 3-word name, not "new york"
    assert first.tags == [kb_tag_id("B", "organisation"), KB_OUTSIDE, kb_tag_id("B", "location"), kb_tag_id("I", "location"),
                          kb_tag_id("I", "location"), KB_OUTSIDE]
    assert second.spans == [(4, 5, "location")]  # "love", "the game": common words alone never match
    assert third.spans == [(0, 2, "person"), (3, 4, "organisation")]  # no n-gram runs into a URL
    unfiltered = KBMatcher(kb).match([["love", "the", "game"]])[0]
    assert unfiltered.spans == [(0, 1, "other"), (1, 3, "untyped")]
    assert bucket_of(["musical artist"]) == "person" and bucket_of([]) == "untyped"
    assert bucket_of(["city", "company", "company"]) == "organisation"


def test_common_words_and_match_scores():
    sentences = [["the", "game", "trump"], ["the", "trump", "wins"], ["the", "game"]]
    inside = [[False, False, True], [False, True, False], [False, False]]
    assert common_words(sentences, inside, 2) == ["the", "game"]  # "trump" stands inside entities: stays matchable
    scores = match_scores([WordMatches([3, 2], [(0, 1, "person")]), WordMatches([2, 2], [])], [[(0, 1)], [(0, 2)]])
    assert scores["precision"] == 1.0 and scores["recall"] == 0.5 and scores["tagged_words"] == 0.25


def test_kb_tags_align_to_first_subwords_and_survive_windows(tiny_tokenizer):
    words = [["steve", "kerrzz", "paris"]]
    tags = [[kb_tag_id("B", "person"), kb_tag_id("I", "person"), KB_OUTSIDE]]
    encoded = encode_words_for_training(tiny_tokenizer, words, [[1, 2, 0]], 64, kb_tags=tags)
    word_ids = encoded.word_ids(0)
    firsts = [index for index, word in enumerate(word_ids) if word is not None and (index == 0 or word_ids[index - 1] != word)]
    assert [encoded["kb_tag_ids"][0][index] for index in firsts] == tags[0]
    assert sum(1 for value in encoded["kb_tag_ids"][0] if value) == 3  # other sub-words and specials read 0
    windowed = encode_words_for_training(tiny_tokenizer, [["paris"] * 20], [[0] * 20], 8, kb_tags=[[KB_OUTSIDE] * 20])
    assert len(windowed["kb_tag_ids"]) > 1 and all(KB_OUTSIDE in row for row in windowed["kb_tag_ids"])


def test_feature_dropout_hides_matches_and_whole_sentences():
    torch.manual_seed(0)
    ids = torch.tensor([[0, kb_tag_id("B", "person"), 0, KB_OUTSIDE, 0]] * 2000)
    dropped = drop_kb_features(ids, 0.25)
    assert (dropped[:, [0, 2, 4]] == 0).all()  # padding and later sub-words stay 0
    no_kb = (dropped[:, 3] == KB_UNKNOWN).float().mean().item()
    to_outside = (dropped[:, 1] == KB_OUTSIDE).float().mean().item()
    assert 0.2 < no_kb < 0.3 and 0.15 < to_outside < 0.22  # 0.25 x 0.75: hidden match, sentence kept
    assert torch.equal(drop_kb_features(ids, 0.0), ids)
    with pytest.raises(ValueError, match="kb_feature_dropout"):
        ScannerSpanDetectorConfig(kb_features=True, kb_feature_dropout=1.0)


def kb_detector(tiny_encoder_config) -> ScannerSpanDetector:
    """A tiny detector that reads only its KB features: B where the KB says B-person, else O."""
    torch.manual_seed(0)
    detector = ScannerSpanDetector(ScannerSpanDetectorConfig(encoder_config=tiny_encoder_config, kb_features=True,
                                                             kb_common_words=["the"])).eval()
    with torch.no_grad():
        detector.kb_embeddings.weight[kb_tag_id("B", "person"), 0] = 50.0
        detector.classifier.weight.zero_()
        detector.classifier.weight[1, 0] = 1.0
        detector.classifier.bias.copy_(torch.tensor([0.0, -2.0, -50.0]))
    detector.encoder.embeddings.LayerNorm.weight.data.fill_(1.0)
    return detector


def test_detector_reads_kb_tags_saves_them_and_runs_without_a_kb(tmp_path, kb, tiny_tokenizer, tiny_encoder_config, caplog):
    detector = kb_detector(tiny_encoder_config)
    words = [["steve", "praises", "paris"], ["paris", "is", "the", "city"]]
    tags = [[kb_tag_id("B", "person"), KB_OUTSIDE, kb_tag_id("B", "location")], None]
    found = detect_candidates(detector, tiny_tokenizer, words, kb_matches=[WordMatches(tags[0]), None])
    assert [(c.sentence_index, c.start, c.end) for c in found] == [(0, 0, 1)]
    with pytest.raises(ValueError, match="2 KB tags"):
        detector.predict_word_probabilities([["a", "b", "c"]], tiny_tokenizer, kb_tags=[[KB_OUTSIDE, KB_OUTSIDE]])
    detector.save_pretrained(tmp_path / "detector")
    reloaded = ScannerSpanDetector.from_pretrained(tmp_path / "detector").eval()
    assert reloaded.config.kb_features and reloaded.config.kb_common_words == ["the"]
    assert torch.equal(reloaded.kb_embeddings.weight, detector.kb_embeddings.weight)
    # without a KB: one warning naming the KB, and the detector still predicts (every word reads "unknown")
    inference_module._WARNED_NO_KB = False
    caplog.set_level(logging.WARNING, logger="scanner_hf.inference")
    assert kb_matches_for(words, [], ["the"], "jsonl:kb.jsonl") is None
    assert kb_matches_for(words, [], ["the"], "jsonl:kb.jsonl") is None
    assert caplog.text.count("no KB is loaded") == 1 and "jsonl:kb.jsonl" in caplog.text
    assert detect_candidates(reloaded, tiny_tokenizer, words, kb_matches=None) == []
    # through the KB provider, the same matches as the matcher's
    provider = KBKnowledge(kb)
    assert entity_kb([provider]) is provider and kb_matches_for(words, [provider], ["the"])[0].tags == [KB_OUTSIDE, KB_OUTSIDE, KB_TAGS.index("B-location")]


def test_kb_candidates_join_stage_ones_for_typed_entries_only(kb, tiny_tokenizer, tiny_encoder_config):
    detector = kb_detector(tiny_encoder_config)
    words = [["steve", "kerr", "loves", "the", "game", "in", "paris"]]
    matches = KBMatcher(kb).match(words)
    assert matches[0].spans == [(0, 2, "person"), (3, 5, "untyped"), (6, 7, "location")]
    plain = detect_candidates(detector, tiny_tokenizer, words, kb_matches=matches)
    assert [(c.start, c.end) for c in plain] == [(0, 1)]  # stage 1 alone (B at "steve")
    joined = detect_candidates(detector, tiny_tokenizer, words, kb_matches=matches, kb_candidates=True)
    assert [(c.start, c.end) for c in joined] == [(0, 1), (0, 2), (6, 7)]  # typed KB names; the untyped title is left out
    assert all(0.0 <= c.score <= 1.0 for c in joined)


def test_trainer_chooses_common_words_and_the_checkpoint_keeps_kb_settings(tmp_path, tiny_backbone_dir, caplog):
    source = write_twitter_folder(tmp_path / "data") / "twitter2017"
    splits = load_ner_dataset(str(source), label_map={"MISC": "OTHER"})
    records = tmp_path / "kb.jsonl"
    records.write_text("\n".join(json.dumps(r) for r in RECORDS + [{"title": "John Smith", "types": ["person"]}]))
    kb_file = build_kb_from_sources([f"jsonl:{records}"], tmp_path / "kb.sqlite")
    words, tried = choose_common_words(KBKnowledge(kb_file), splits["train"], splits["validation"])
    assert set(tried) == {0, 100, 300, 1000, 3000, 10000} and "love" in words  # "love" is a KB title and a filler word here
    assert len(words) == 10 and tried[100]["f1"] > tried[0]["f1"]  # all 10 filler words held back: fewer false matches
    fast = {"per_device_train_batch_size": 8, "learning_rate": 3e-3, "warmup_steps": 0.0, "seed": 42}
    args = ScannerTrainingArguments(
        output_dir=str(tmp_path / "run"), non_entity_folds=2, knowledge=KnowledgeSettings(wikipedia=str(kb_file)),
        stage1=stage_training_arguments(str(tmp_path / "c1"), num_train_epochs=2, **fast),
        stage2=stage_training_arguments(str(tmp_path / "c2"), num_train_epochs=1, **fast),
    )
    set_seed(0)
    model = ScannerForMultimodalNER.from_encoder(str(tiny_backbone_dir), entity_types=entity_types_of(splits["train"]),
                                                 stage1_max_length=32, max_prompt_length=48, kb_features=True, kb_candidates=True)
    trainer = ScannerTrainer(model, args, splits["train"], splits["validation"], splits["test"])
    seen = []
    real = trainer.kb_matches
    trainer.kb_matches = lambda tokens: seen.append(len(tokens)) or real(tokens)
    scores = trainer.train()
    assert "kb_tags" in trainer.train_dataset.column_names and len(seen) >= 4  # both splits, both folds, dev candidates
    assert model.span_detector.config.kb_common_words == words and "scanner" in scores
    from transformers import pipeline

    inference_module._WARNED_NO_KB = False
    ner = pipeline("scanner-ner", model=str(tmp_path / "run" / "scanner"), providers=[KBKnowledge(kb_file)])
    # trained with KB candidates, the checkpoint keeps them at inference only if validation F1 says so
    tried = trainer.scores["candidate_threshold_dev_f1"]
    assert len(tried) == 10 and sum(key.endswith(" + KB candidates") for key in tried) == 5
    best_without = max(f1 for key, f1 in tried.items() if not key.endswith(" + KB candidates"))
    best_with = max(f1 for key, f1 in tried.items() if key.endswith(" + KB candidates"))
    assert ner.model.config.kb_candidates == (best_with > best_without) and ner.model.span_detector.config.kb_features
    assert trainer.kb_training_candidates  # the cross-fold training candidates had them either way
    assert ner.model.span_detector.config.kb_common_words == words
    assert isinstance(ner("steve kerr visits new york city"), list)
    assert "no KB is loaded" not in caplog.text
    # the same checkpoint where its KB is not: one warning naming it, and predictions still come
    caplog.set_level(logging.WARNING)
    bare = pipeline("scanner-ner", model=str(tmp_path / "run" / "scanner"), providers=[])
    assert isinstance(bare("steve kerr visits new york city"), list) and caplog.text.count("no KB is loaded") == 1
    assert "built from jsonl:kb.jsonl#" in caplog.text
