import pytest

from scanner_hf.knowledge import PrecomputedCaptions, PrecomputedObjects
from scanner_hf.knowledge.factory import providers_from_settings
from scanner_hf.knowledge.kb_sources import KnowledgeBaseError


def test_providers_from_settings(tmp_path):
    captions = tmp_path / "c.txt"
    captions.write_text("1.jpg :a man\n")
    (tmp_path / "objects").mkdir()
    providers = providers_from_settings({"captions": str(captions), "objects": str(tmp_path / "objects"), "llm": False})
    assert [type(p) for p in providers] == [PrecomputedCaptions, PrecomputedObjects]
    assert providers_from_settings(None) == []
    with pytest.raises(ValueError, match="unknown knowledge settings"):
        providers_from_settings({"wikipedai": "ovos"})


def test_unavailable_sources_fail_strictly_or_are_skipped(tmp_path, caplog):
    settings = {"wikipedia": str(tmp_path / "missing.sqlite"), "objects": str(tmp_path / "nowhere")}
    with pytest.raises(KnowledgeBaseError):
        providers_from_settings(settings)
    assert providers_from_settings(settings, strict=False) == []
    assert "is skipped" in caplog.text
