import pytest
from conftest import split_of

from scanner_hf.data import load_benchmark
from scanner_hf.knowledge.llm import (
    KnowledgeAlignmentError,
    LLMKnowledge,
    benchmark_llm_knowledge,
    read_llm_knowledge,
)
from scanner_hf.providers import KnowledgeRequest

SPLIT_ROWS = [(["steve", "kerr"], ["B-PER", "I-PER"]), (["in", "paris"], ["O", "B-LOC"])]


def write(path, samples):
    blocks = []
    for tokens, answer in samples:
        lines = [f"{t}\tO" for t in tokens] + ["<EOS>\tX"] + [f"{w}\tX" for w in answer.split()] + ["\tX"]
        blocks.append("\r\n".join(lines))
    path.write_text("\r\n\r\n".join(blocks) + "\r\n", encoding="utf-8")


def test_aligned_by_position_and_checked(tmp_path):
    split = split_of(SPLIT_ROWS)
    path = tmp_path / "k.txt"
    write(path, [(["steve", "kerr"], "Steve Kerr (person)"), (["in", "paris"], "Paris (city)")])
    assert read_llm_knowledge(path, split) == {"0": "Steve Kerr (person)", "1": "Paris (city)"}
    write(path, [(["steve", "kerr"], "Steve Kerr (person)")])  # the last tweet missing: allowed, logged
    assert read_llm_knowledge(path, split) == {"0": "Steve Kerr (person)"}
    write(path, [(["steve", "kerr"], "x"), (["in", "rome"], "y")])
    with pytest.raises(KnowledgeAlignmentError, match="sample 1 does not match"):
        read_llm_knowledge(path, split)
    write(path, [(["in", "paris"], "y")] * 3)
    with pytest.raises(KnowledgeAlignmentError, match="3 samples for a split of 2"):
        read_llm_knowledge(path, split)


def test_provider_by_image_id():
    provider = LLMKnowledge({"img1": "Kroger (company)"})
    assert provider.provide(KnowledgeRequest(sentence="s", candidate="Kroger", image_id="img1")).llm == "Kroger (company)"
    assert provider.provide(KnowledgeRequest(sentence="s", candidate="x", image_id="other")).llm is None


@pytest.mark.parametrize("name,expected", [("twitter2015", 3999 + 999 + 3256), ("twitter2017", 3373 + 723 + 723), ("twitter_gmner", 10000)])
def test_real_knowledge_aligns(shared_data, name, expected):
    splits = load_benchmark(name, shared_data)
    provider = benchmark_llm_knowledge(name, splits, shared_data)
    assert len(provider.texts_by_image) == expected
