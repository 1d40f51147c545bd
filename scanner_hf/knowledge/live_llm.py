"""Live LLM knowledge for any text (the PGIM recipe: ask a language model which entities a post names
and what they are), so a user's own text gets what the benchmarks' precomputed ChatGPT files give.

Two backends answer the same chat prompt:

- :class:`TransformersChatLLM`: a local transformers text-generation model (Hub id or folder; a GGUF
  file through ``gguf_file``), greedy decoding, batched;
- :class:`OpenAIChatLLM`: any OpenAI-compatible ``/chat/completions`` endpoint (vLLM, TGI,
  llama.cpp's server, Ollama, ``transformers serve``): base URL, model name, API key from an
  environment variable, bounded concurrency, timeout, and retries with exponential backoff.

:class:`LiveLLMKnowledge` asks once per distinct text (batched through :meth:`prefetch`), keeps
answers in an on-disk :class:`KnowledgeCache` keyed by backend and prompt, and never stops a batch
for a failed request: the failure is logged and counted, and that text goes without LLM knowledge.

>>> provider = LiveLLMKnowledge(OpenAIChatLLM("http://127.0.0.1:8000/v1", "SmolLM2"), cache=KnowledgeCache("k.sqlite"))  # doctest: +SKIP
>>> provider.provide(KnowledgeRequest(sentence="Steve Kerr praises the Warriors", candidate="Warriors")).llm          # doctest: +SKIP
'Named entities: 1. Steve Kerr (person, basketball coach) 2. Warriors (organization, basketball team) ...'
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol

from tqdm.auto import tqdm

from ..providers import Knowledge, KnowledgeProvider, KnowledgeRequest
from .cache import KnowledgeCache

logger = logging.getLogger(__name__)

PREFETCH_CHUNK = 64  # texts per backend call in prefetch: the unit of progress and of on-disk caching
SYSTEM_PROMPT = "You are an expert in named entity recognition for social media posts."
QUESTION = (
    "Text: {text}\n"
    "Which named entities does the text mention? Name each one and say what it is (person, location, "
    "organization or other), then explain briefly."
)
# One worked example (PGIM prompts ChatGPT with in-context examples in this shape).
EXAMPLE_TEXT = "RT @nba : Steve Kerr and the Warriors celebrate the title in Oakland"
EXAMPLE_ANSWER = (
    "Named entities: 1. Steve Kerr (person, basketball coach) 2. Warriors (organization, the Golden State "
    "Warriors basketball team) 3. Oakland (location, city in California) Reasoning: Steve Kerr coaches the "
    "Golden State Warriors, an NBA team that played in Oakland."
)


def knowledge_messages(text: str) -> list[dict[str, str]]:
    """The chat messages that ask for one text's entities (system, one example, the question)."""
    return [
        {"role": "system", "content": SYSTEM_PROMPT},
        {"role": "user", "content": QUESTION.format(text=EXAMPLE_TEXT)},
        {"role": "assistant", "content": EXAMPLE_ANSWER},
        {"role": "user", "content": QUESTION.format(text=text)},
    ]


class ChatBackend(Protocol):
    """Answers chat prompts; ``None`` for a prompt whose request failed."""

    name: str

    def generate(self, conversations: Sequence[list[dict[str, str]]]) -> list[str | None]: ...


class TransformersChatLLM:
    """A local causal LM through transformers (loaded on first use), greedy, ``batch_size`` prompts at once.

    Args:
        model: Hub id or folder.
        gguf_file: a GGUF file in that folder or repo (transformers dequantises it; needs ``gguf``).
        max_new_tokens: the answer's length cap.
    """

    def __init__(self, model: str, *, gguf_file: str | None = None, max_new_tokens: int = 96, batch_size: int = 8):
        self.model_name, self.gguf_file = str(model), gguf_file
        self.max_new_tokens, self.batch_size = max_new_tokens, batch_size
        self.name = f"transformers:{self.model_name}" + (f":{gguf_file}" if gguf_file else "") + f":{max_new_tokens}"
        self._model = self._tokenizer = None

    def _load(self) -> None:
        from transformers import AutoModelForCausalLM, AutoTokenizer

        kwargs = {"gguf_file": self.gguf_file} if self.gguf_file else {}
        self._tokenizer = AutoTokenizer.from_pretrained(self.model_name, **kwargs)
        self._tokenizer.padding_side = "left"
        if self._tokenizer.pad_token is None:
            self._tokenizer.pad_token = self._tokenizer.eos_token
        self._model = AutoModelForCausalLM.from_pretrained(self.model_name, **kwargs).eval()

    def generate(self, conversations: Sequence[list[dict[str, str]]]) -> list[str | None]:
        import torch

        if self._model is None:
            self._load()
        answers: list[str | None] = []
        for offset in range(0, len(conversations), self.batch_size):
            chunk = conversations[offset : offset + self.batch_size]
            prompts = [self._tokenizer.apply_chat_template(c, add_generation_prompt=True, tokenize=False) for c in chunk]
            batch = self._tokenizer(prompts, return_tensors="pt", padding=True, add_special_tokens=False)
            inputs = {key: batch[key].to(self._model.device) for key in ("input_ids", "attention_mask")}
            with torch.no_grad():
                output = self._model.generate(
                    **inputs, max_new_tokens=self.max_new_tokens, do_sample=False,
                    pad_token_id=self._tokenizer.pad_token_id,
                )
            new_tokens = output[:, batch["input_ids"].shape[1] :]
            answers += [text.strip() for text in self._tokenizer.batch_decode(new_tokens, skip_special_tokens=True)]
        return answers


def http_error_detail(error: urllib.error.HTTPError) -> str:
    """The server's own reason for an HTTP error (e.g. "the prompt has 539 tokens, but the model takes at
    most 512"), so the log says why a text got no answer; empty when the body says nothing readable."""
    try:
        body = error.read().decode("utf-8", errors="replace").strip()
    except (OSError, ValueError):
        return ""
    try:
        parsed = json.loads(body)
        if isinstance(parsed, dict):
            body = str(parsed.get("detail") or parsed.get("error") or parsed.get("message") or body)
    except ValueError:
        pass
    return f": {body[:500]}" if body else ""


class OpenAIChatLLM:
    """An OpenAI-compatible chat-completions endpoint (stdlib HTTP; no client package needed).

    Args:
        base_url: e.g. ``http://127.0.0.1:8000/v1``.
        model: the model name the server knows.
        api_key_env: the environment variable holding the API key (none sent when unset).
        concurrency: requests in flight at once. timeout: seconds per request.
        retries / backoff: further tries after a connection error, 429 or 5xx, waiting
            ``backoff * 2**attempt`` seconds; other errors fail at once.
    """

    def __init__(
        self, base_url: str, model: str, *, api_key_env: str = "OPENAI_API_KEY", max_tokens: int = 96,
        concurrency: int = 4, timeout: float = 60.0, retries: int = 3, backoff: float = 1.0,
    ):
        self.url = base_url.rstrip("/") + "/chat/completions"
        self.model, self.api_key_env, self.max_tokens = model, api_key_env, max_tokens
        self.concurrency, self.timeout, self.retries, self.backoff = max(1, concurrency), timeout, retries, backoff
        self.name = f"openai:{base_url.rstrip('/')}:{model}:{max_tokens}"

    def _request(self, messages: list[dict[str, str]]) -> str:
        body = json.dumps({"model": self.model, "messages": messages, "max_tokens": self.max_tokens, "temperature": 0}).encode()
        headers = {"Content-Type": "application/json"}
        if os.environ.get(self.api_key_env):
            headers["Authorization"] = f"Bearer {os.environ[self.api_key_env]}"
        request = urllib.request.Request(self.url, data=body, headers=headers, method="POST")
        with urllib.request.urlopen(request, timeout=self.timeout) as response:
            answer = json.loads(response.read().decode("utf-8"))
        return str(answer["choices"][0]["message"]["content"] or "").strip()

    def _ask(self, messages: list[dict[str, str]]) -> str | None:
        for attempt in range(self.retries + 1):
            try:
                return self._request(messages)
            except urllib.error.HTTPError as error:
                retriable = error.code == 429 or error.code >= 500
                reason = f"HTTP {error.code}" + http_error_detail(error)
            except (urllib.error.URLError, TimeoutError, ConnectionError) as error:
                retriable, reason = True, str(getattr(error, "reason", error))
            except (KeyError, IndexError, TypeError, ValueError) as error:
                retriable, reason = False, f"unexpected answer ({error!r})"
            if not retriable or attempt == self.retries:
                logger.warning("LLM request to %s failed after %d tries: %s", self.url, attempt + 1, reason)
                return None
            time.sleep(self.backoff * 2**attempt)
        return None

    def generate(self, conversations: Sequence[list[dict[str, str]]]) -> list[str | None]:
        with ThreadPoolExecutor(max_workers=self.concurrency) as pool:
            return list(pool.map(self._ask, conversations))


class LiveLLMKnowledge(KnowledgeProvider):
    """The LLM's answer about the request's whole text (the same for every candidate in it), asked
    once per distinct text and cached on disk. ``failures`` counts texts whose request failed."""

    def __init__(self, backend: ChatBackend, *, cache: KnowledgeCache | None = None):
        self.backend, self.cache = backend, cache
        self.failures = 0
        self._memo: dict[str, str | None] = {}

    def _key(self, text: str) -> str:
        prompt = json.dumps(knowledge_messages(text), sort_keys=True)
        return f"llm:{self.backend.name}:{hashlib.sha256(prompt.encode()).hexdigest()}"

    def prefetch(self, requests: Sequence[KnowledgeRequest]) -> None:
        """Answer every distinct text of ``requests`` not yet known, ``PREFETCH_CHUNK`` texts per
        backend call, with a progress bar over many; answers are cached after each chunk, so an
        interrupted run keeps what it generated."""
        missing = []
        for text in dict.fromkeys(request.sentence for request in requests):
            if text in self._memo:
                continue
            cached = self.cache.get(self._key(text)) if self.cache is not None else None
            if cached is not None:
                self._memo[text] = cached or None
            else:
                missing.append(text)
        failed = 0
        with tqdm(total=len(missing), desc="LLM knowledge", unit=" texts", disable=len(missing) <= PREFETCH_CHUNK) as progress:
            for offset in range(0, len(missing), PREFETCH_CHUNK):
                chunk = missing[offset : offset + PREFETCH_CHUNK]
                answers = self.backend.generate([knowledge_messages(text) for text in chunk])
                for text, answer in zip(chunk, answers):
                    self._memo[text] = answer or None
                    if answer is None:
                        failed += 1
                    elif self.cache is not None:
                        self.cache.put(self._key(text), answer)
                progress.update(len(chunk))
        if failed:
            self.failures += failed
            logger.warning("LLM knowledge: %d of %d texts got no answer (they go without LLM knowledge)", failed, len(missing))

    def provide(self, request: KnowledgeRequest) -> Knowledge:
        if request.sentence not in self._memo:
            self.prefetch([request])
        return Knowledge(llm=self._memo[request.sentence])


LIVE_LLM_KEYS = {"model", "gguf_file", "endpoint", "api_key_env", "max_new_tokens", "batch_size", "concurrency", "timeout", "retries"}


def live_llm_from_settings(settings: dict[str, Any], cache: KnowledgeCache | None = None) -> LiveLLMKnowledge:
    """``{"model": ID_OR_FOLDER, "gguf_file": ...}`` (local transformers) or ``{"endpoint": URL,
    "model": NAME, "api_key_env": ...}`` (OpenAI-compatible server) -> the provider."""
    unknown = set(settings) - LIVE_LLM_KEYS
    if unknown or "model" not in settings:
        raise ValueError(f"llm settings need 'model' (and 'endpoint' for a server); unknown keys {sorted(unknown)}; known {sorted(LIVE_LLM_KEYS)}")
    max_new_tokens = int(settings.get("max_new_tokens", 96))
    if settings.get("endpoint"):
        backend: ChatBackend = OpenAIChatLLM(
            settings["endpoint"], settings["model"], api_key_env=settings.get("api_key_env", "OPENAI_API_KEY"),
            max_tokens=max_new_tokens, concurrency=int(settings.get("concurrency", 4)),
            timeout=float(settings.get("timeout", 60)), retries=int(settings.get("retries", 3)),
        )
    else:
        backend = TransformersChatLLM(settings["model"], gguf_file=settings.get("gguf_file"), max_new_tokens=max_new_tokens,
                                      batch_size=int(settings.get("batch_size", 8)))
    return LiveLLMKnowledge(backend, cache=cache)
