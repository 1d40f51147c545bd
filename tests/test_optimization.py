"""The inference fast path: int8 / bf16 close to fp32 and giving the same entities, the setting saved with
the checkpoint, identical stage-2 prompts encoded once, KB lookups once per distinct string, threads."""

import copy
import json

import pytest
import torch
from transformers import pipeline

from scanner_hf import (
    ScannerEntityRecognizer,
    ScannerEntityRecognizerConfig,
    ScannerProcessor,
)
from scanner_hf.inference import recognize
from scanner_hf.optimization import (
    configure_threads,
    optimization_of,
    optimize_for_inference,
)
from scanner_hf.prompting import PromptInput
from scanner_hf.providers import Knowledge, KnowledgeRequest


@pytest.fixture(autouse=True)
def graph_cache(tmp_path, monkeypatch):
    """Exported ONNX graphs are kept under $SCANNER_HF_CACHE: a fresh folder per test, not the user's cache."""
    monkeypatch.setenv("SCANNER_HF_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache" / "onnx"


TEXTS = ["Look: Steve Kerr in PARIS!", "nothing here at all", "kerr and steve love paris", "the game in paris today"]


def spans(results):
    return [[(r["word"], r["entity_group"], r["start"], r["end"]) for r in entities] for entities in results]


@pytest.mark.parametrize("mode", ["int8", "bf16", "onnx", "onnx-int8"])
def test_fast_paths_give_the_same_entities(saved, mode):
    reference = pipeline("scanner-ner", model=str(saved))(TEXTS)
    fast = pipeline("scanner-ner", model=str(saved), optimize=mode)
    assert optimization_of(fast.model) == mode
    results = fast(TEXTS)
    assert spans(results) == spans(reference) and any(reference)
    for mine, theirs in zip(results, reference):
        assert all(abs(a["score"] - b["score"]) < 0.02 for a, b in zip(mine, theirs))
    if mode == "int8":
        quantized = [m for m in fast.model.modules() if isinstance(m, torch.ao.nn.quantized.dynamic.Linear)]
        kept = [m for m in fast.model.modules() if type(m) is torch.nn.Linear]
        assert len(quantized) >= 2 * 5  # q, k, v, attention output, FFN up-projection of each encoder layer
        assert kept and all(m.in_features > m.out_features for m in kept)  # down-projections and heads stay fp32
    elif mode == "bf16":
        assert {p.dtype for p in fast.model.parameters()} == {torch.bfloat16}
    else:  # both stages' encoders run in ONNX Runtime
        from scanner_hf.onnx_runtime import OnnxEncoder

        assert [type(m.encoder) for m in (fast.model.span_detector, fast.model.entity_recognizer)] == [OnnxEncoder] * 2


def test_setting_is_saved_with_the_checkpoint(saved):
    config = json.loads((saved / "config.json").read_text())
    assert config["optimize"] == "none"
    config["optimize"] = "int8"
    (saved / "config.json").write_text(json.dumps(config))
    assert optimization_of(pipeline("scanner-ner", model=str(saved)).model) == "int8"
    assert optimization_of(pipeline("scanner-ner", model=str(saved), optimize="none").model) == "none"  # the caller wins
    config["optimize"] = "none"
    (saved / "config.json").write_text(json.dumps(config))
    from scanner_hf import ScannerForMultimodalNER

    quantized = optimize_for_inference(ScannerForMultimodalNER.from_pretrained(saved), "int8")  # as `scanner-ner --optimize int8` does
    assert optimization_of(pipeline("scanner-ner", model=quantized, tokenizer=str(saved)).model) == "int8"  # kept, not an error
    config["optimize"] = "int4"
    (saved / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match="optimize must be one of"):
        pipeline("scanner-ner", model=str(saved))


def test_int8_logits_stay_close_on_random_weights(tiny_tokenizer, tiny_encoder_config):
    torch.manual_seed(3)
    model = ScannerEntityRecognizer(
        ScannerEntityRecognizerConfig(encoder_config=tiny_encoder_config, mask_token_id=tiny_tokenizer.mask_token_id)
    ).eval()
    input_ids = torch.randint(5, tiny_encoder_config.vocab_size, (8, 24))
    input_ids[:, 3] = tiny_tokenizer.mask_token_id
    with torch.no_grad():
        expected = model(input_ids=input_ids).logits.softmax(-1)
        quantized = optimize_for_inference(copy.deepcopy(model), "int8")
        found = quantized(input_ids=input_ids).logits.softmax(-1)
    assert not torch.equal(found, expected)  # the int8 kernels really ran
    assert (found - expected).abs().max() < 0.05
    with pytest.raises(ValueError, match="already optimised"):
        optimize_for_inference(quantized, "bf16")
    with pytest.raises(ValueError, match="unknown inference optimisation"):
        optimize_for_inference(model, "fp8")


def test_onnx_encoders_match_pytorch_with_padding(stage2_tokenizer, tiny_encoder_config):
    """ONNX Runtime fp32 gives PyTorch's probabilities for prompts of different lengths in one batch
    (padding); int8 stays close."""
    from conftest import tiny_recognizer

    from scanner_hf.onnx_runtime import OnnxEncoder

    model = tiny_recognizer(stage2_tokenizer, tiny_encoder_config)
    builder = ScannerProcessor(stage2_tokenizer, max_prompt_length=64).prompt_builder(model.config)
    sentences = [["steve", "kerr", "in", "paris"], ["paris"], ["the", "game", "in", "paris", "today", "with", "kerr"]]
    items = [PromptInput(words, start, start + 1, Knowledge()) for words in sentences for start in range(len(words))]
    expected = recognize(model, builder, items, batch_size=4)
    for mode, tolerance in (("onnx", 1e-5), ("onnx-int8", 0.05)):
        fast = optimize_for_inference(copy.deepcopy(model), mode)
        assert isinstance(fast.encoder, OnnxEncoder) and fast.encoder.int8 == (mode == "onnx-int8")
        found = recognize(fast, builder, items, batch_size=4)
        assert max(abs(a[1] - b[1]) for a, b in zip(found, expected)) < tolerance
        if mode == "onnx":
            assert [r[0] for r in found] == [r[0] for r in expected]
    with pytest.raises(ValueError, match="last hidden state only"):
        fast.encoder(torch.tensor([[5, 6]]), output_hidden_states=True)


def test_onnx_encoder_takes_padding_masks_packed_masks_and_positions(tiny_encoder_config):
    from transformers import BertModel

    from scanner_hf.onnx_runtime import OnnxEncoder

    torch.manual_seed(0)
    encoder = BertModel(tiny_encoder_config, add_pooling_layer=False).eval()
    runtime = OnnxEncoder(encoder, int8=False)
    ids = torch.randint(5, tiny_encoder_config.vocab_size, (2, 10))
    packed = torch.zeros(2, 1, 10, 10)
    packed[:, :, :6, 6:] = torch.finfo(torch.float32).min  # the first six tokens do not see the last four
    positions = torch.cat([torch.arange(6), torch.arange(6, 10)]).expand(2, 10).flip(-1)
    padding = torch.ones(2, 10, dtype=torch.long)
    padding[1, 7:] = 0
    with torch.no_grad():
        for kwargs in ({"attention_mask": packed, "position_ids": positions}, {"attention_mask": padding}, {}):
            expected = encoder(ids, **kwargs).last_hidden_state
            found = runtime(ids, **kwargs).last_hidden_state
            valid = padding.bool() if kwargs.get("attention_mask") is padding else torch.ones(2, 10, dtype=torch.bool)
            assert (found - expected)[valid].abs().max() < 1e-5
            if kwargs:  # the mask and positions change the result, so the graph really takes them
                assert (encoder(ids).last_hidden_state - expected)[valid].abs().max() > 1e-3
        as_bool = runtime(ids, attention_mask=packed == 0, position_ids=positions).last_hidden_state  # True = may attend
        assert (as_bool - runtime(ids, attention_mask=packed, position_ids=positions).last_hidden_state).abs().max() < 1e-6
    with pytest.raises(ValueError, match="mask"):
        runtime(ids, attention_mask=torch.ones(2, 10, 10))


def test_exported_graphs_are_kept_and_reused_per_model(tiny_encoder_config, graph_cache, monkeypatch, caplog):
    """A second load of the same encoder reads its graph instead of exporting it; other weights or
    int8 get their own graph; an unreadable cached graph is exported again. The int8 graph keeps the
    down-projections as fp32 MatMuls and quantises the rest."""
    import onnx
    from transformers import BertModel

    from scanner_hf import onnx_runtime
    from scanner_hf.onnx_runtime import OnnxEncoder, down_projections, export_encoder

    torch.manual_seed(0)
    encoder = BertModel(tiny_encoder_config, add_pooling_layer=False).eval()
    ids = torch.randint(5, tiny_encoder_config.vocab_size, (2, 7))
    first = OnnxEncoder(encoder, int8=False)
    assert first.graph_path.parent == graph_cache and first.graph_path.is_file()
    exports = []
    monkeypatch.setattr(onnx_runtime, "export_encoder", lambda model: exports.append(model) or export_encoder(model))
    again = OnnxEncoder(copy.deepcopy(encoder), int8=False)
    assert exports == [] and again.graph_path == first.graph_path
    assert torch.equal(again(ids).last_hidden_state, first(ids).last_hidden_state)
    quantised = OnnxEncoder(encoder, int8=True)
    changed = copy.deepcopy(encoder)
    with torch.no_grad():
        changed.encoder.layer[0].output.dense.weight[0, 0] += 1.0
    other = OnnxEncoder(changed, int8=False)
    assert len(exports) == 2 and len({first.graph_path, quantised.graph_path, other.graph_path}) == 3
    assert (other(ids).last_hidden_state - first(ids).last_hidden_state).abs().max() > 1e-4
    int8_graph = onnx.load(str(quantised.graph_path))
    kept = set(down_projections(first.graph_path.read_bytes()))
    assert kept and {node.name for node in int8_graph.graph.node if node.op_type == "MatMul"} >= kept
    assert any(node.op_type in ("MatMulInteger", "DynamicQuantizeMatMul") for node in int8_graph.graph.node)
    first.graph_path.write_bytes(b"not a graph")
    with caplog.at_level("WARNING", logger="scanner_hf.onnx_runtime"):
        repaired = OnnxEncoder(encoder, int8=False)
    assert "unreadable" in caplog.text and len(exports) == 3
    assert torch.equal(repaired(ids).last_hidden_state, first(ids).last_hidden_state)
    assert onnx.load(str(first.graph_path)) is not None  # the cache holds a good graph again


def test_identical_prompts_are_encoded_once(saved):
    ner = pipeline("scanner-ner", model=str(saved))
    recognizer, builder = ner.model.entity_recognizer, ner.builder
    words = ["steve", "kerr", "in", "paris"]
    items = [PromptInput(words, 0, 2, Knowledge()), PromptInput(words, 3, 4, Knowledge())] * 3
    items.append(PromptInput(words, 3, 4, Knowledge(wikipedia="a city")))
    rows = []
    handle = recognizer.register_forward_pre_hook(lambda module, args, kwargs: rows.append(kwargs["input_ids"].shape[0]), with_kwargs=True)
    try:
        results = recognize(recognizer, builder, items, batch_size=64)
    finally:
        handle.remove()
    assert sum(rows) == 3  # three distinct prompts among seven
    assert results[0] == results[2] == results[4] and results[1] == results[3] == results[5]
    assert results == [recognize(recognizer, builder, [item])[0] for item in items]


def test_kb_lookups_once_per_distinct_string(tmp_path):
    from scanner_hf.knowledge.kb import KBKnowledge
    from scanner_hf.knowledge.kb_build import build_kb
    from scanner_hf.knowledge.kb_sources import KBRecord

    path = tmp_path / "kb.sqlite"
    build_kb([KBRecord("Paris", types=["city"]), KBRecord("Steve Kerr", types=["person"])], path, source="test")
    provider = KBKnowledge(path, memo_size=2)
    calls = []
    find_many = provider.kb.find_many
    provider.kb.find_many = lambda strings: calls.append(list(strings)) or find_many(strings)
    requests = [KnowledgeRequest("s", c) for c in ("Paris", "Steve Kerr", "Paris", "Paris")]
    provider.prefetch(requests)
    assert calls == [["Paris", "Steve Kerr"]]
    assert "city" in provider.provide(requests[0]).wikipedia
    assert provider.provide(requests[0]).kb_entries[0]["types"] == ["city"]  # the entries behind the text, for return_knowledge
    provider.prefetch([KnowledgeRequest("s", "Paris"), KnowledgeRequest("s", "Lyon")])
    assert calls[-1] == ["Lyon"] and len(provider._memo) == 2  # bounded: the oldest string was dropped
    assert provider.provide(KnowledgeRequest("s", "Lyon")).wikipedia is None


def test_threads_are_shared_between_local_processes(monkeypatch):
    before = torch.get_num_threads()
    try:
        monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
        monkeypatch.setattr("scanner_hf.optimization.available_cpus", lambda: 32)
        monkeypatch.setenv("LOCAL_WORLD_SIZE", "4")
        assert configure_threads() == 8 and torch.get_num_threads() == 8
        monkeypatch.setenv("OMP_NUM_THREADS", "3")
        assert configure_threads() == 3
        assert configure_threads(1) == 1
        with pytest.raises(ValueError):
            configure_threads(0)
    finally:
        torch.set_num_threads(before)
