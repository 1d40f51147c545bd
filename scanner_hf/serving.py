"""``scanner-ner serve``: the pipeline over HTTP with JSON, on LitServe (dynamic batching, worker processes,
``/health`` and ``/openapi.json`` come from it; docs/serving.md says why LitServe and not Ray Serve).

A request is :class:`PredictRequest` (``{"text": ...}`` or ``{"texts": [...]}``, an optional base64 image,
caption, knowledge and options); the answer is ``{"entities": ...}`` with the pipeline's entity dicts
(one list, or one list per text). Requests that arrive within ``batch_timeout`` of each other go to the
model together (up to ``max_batch_size`` requests). The checks here run per request in the worker, so one
bad request in a batch gets its own 4xx answer and the others theirs; the JSON shape is checked before
the queue (FastAPI answers 422).

The request checks and the batch answer (:func:`parse_request`, :func:`answer_batch`) know no engine, so
another engine can serve the same pipeline the same way (``benchmarks/serving_load.py`` runs Ray Serve on them).
"""

# no ``from __future__ import annotations``: LitServe and FastAPI read the request and response types from
# ScannerAPI's annotations at run time
import asyncio
import base64
import binascii
import io
import logging
import os
import signal
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import litserve as ls
from pydantic import BaseModel, ConfigDict, Field, model_validator
from starlette.middleware.base import BaseHTTPMiddleware
from starlette.responses import JSONResponse

from .processing_scanner import normalise_input

logger = logging.getLogger(__name__)

IMAGE_FORMATS = ("JPEG", "PNG", "WEBP", "GIF", "BMP")


@dataclass(frozen=True)
class ServingLimits:
    """What one request may hold; each is a ``scanner-ner serve`` flag."""

    max_text_chars: int = 5_000
    max_texts: int = 64
    max_image_bytes: int = 10_000_000
    max_image_pixels: int = 40_000_000


class PredictRequest(BaseModel):
    """The body of ``POST /predict``."""

    model_config = ConfigDict(extra="forbid")

    text: str | None = Field(None, description="one text; the answer's entities are one list")
    texts: list[str] | None = Field(None, description="many texts; the answer holds one list of entities per text")
    image: str | None = Field(None, description="with text: the image, base64-encoded (JPEG, PNG, WEBP, GIF or BMP)")
    caption: str | None = Field(None, description="with text: a caption of the image")
    knowledge: str | dict[str, str] | None = Field(None, description="with text: knowledge text, or {wikipedia, llm, caption}")
    return_knowledge: bool = Field(False, description="each entity also carries what its prompt was given")
    box_threshold: float | None = Field(None, ge=0.0, le=1.0, description="grounding models: the box score a box needs")

    @model_validator(mode="after")
    def one_kind_of_input(self) -> "PredictRequest":
        if (self.text is None) == (self.texts is None):
            raise ValueError("give exactly one of 'text' and 'texts'")
        if self.texts is not None and (self.image is not None or self.caption is not None or self.knowledge is not None):
            raise ValueError("'image', 'caption' and 'knowledge' go with 'text' (one input), not with 'texts'")
        return self


class PredictResponse(BaseModel):
    """The answer of ``POST /predict``: the pipeline's entity dicts."""

    entities: list[dict[str, Any]] | list[list[dict[str, Any]]]


@dataclass
class RequestError:
    """A request that gets a 4xx answer instead of entities."""

    status: int
    detail: str


@dataclass
class ParsedRequest:
    """A checked request: the pipeline inputs and options."""

    inputs: list[dict]
    single: bool
    return_knowledge: bool = False
    box_threshold: float | None = None


def decode_image(data: str, limits: ServingLimits):
    """A base64 image as a PIL image, or a :class:`RequestError` saying what is wrong with it."""
    from PIL import Image, UnidentifiedImageError

    if len(data) > limits.max_image_bytes * 4 // 3 + 4:
        return RequestError(413, f"the image is over {limits.max_image_bytes} bytes (--max-image-bytes)")
    try:
        raw = base64.b64decode(data.split(",", 1)[1] if data.startswith("data:") else data, validate=True)
    except (binascii.Error, ValueError):
        return RequestError(422, "'image' is not valid base64")
    if len(raw) > limits.max_image_bytes:
        return RequestError(413, f"the image is {len(raw)} bytes, over {limits.max_image_bytes} (--max-image-bytes)")
    try:
        image = Image.open(io.BytesIO(raw))
    except (UnidentifiedImageError, OSError):
        return RequestError(415, f"'image' is not an image this service reads ({', '.join(IMAGE_FORMATS)})")
    if image.format not in IMAGE_FORMATS:
        return RequestError(415, f"images of type {image.format} are not accepted ({', '.join(IMAGE_FORMATS)})")
    if image.width * image.height > limits.max_image_pixels:
        return RequestError(413, f"the image has {image.width}x{image.height} pixels, over {limits.max_image_pixels} (--max-image-pixels)")
    try:
        image.load()
    except OSError as error:  # truncated or corrupt pixel data
        return RequestError(422, f"the image cannot be read: {error}")
    return image.convert("RGB")


def parse_request(request: PredictRequest | dict, limits: ServingLimits) -> ParsedRequest | RequestError:
    """Check one request against ``limits``: a :class:`ParsedRequest`, or the 4xx answer it gets."""
    if isinstance(request, dict):
        try:
            request = PredictRequest.model_validate(request)
        except ValueError as error:
            return RequestError(422, str(error))
    texts = [request.text] if request.text is not None else list(request.texts or [])
    if not texts:
        return RequestError(422, "'texts' is empty")
    if len(texts) > limits.max_texts:
        return RequestError(413, f"{len(texts)} texts in one request, over {limits.max_texts} (--max-texts)")
    for index, text in enumerate(texts):
        if len(text) > limits.max_text_chars:
            where = "'text'" if request.text is not None else f"texts[{index}]"
            return RequestError(413, f"{where} has {len(text)} characters, over {limits.max_text_chars} (--max-text-chars)")
    inputs = [{"text": text} for text in texts]
    if request.image is not None:
        image = decode_image(request.image, limits)
        if isinstance(image, RequestError):
            return image
        inputs[0]["image"] = image
    if request.caption is not None:
        inputs[0]["caption"] = request.caption
    if request.knowledge is not None:
        inputs[0]["knowledge"] = request.knowledge
    for index, value in enumerate(inputs):  # what the pipeline would refuse (empty text, unknown knowledge keys) is a 422 here
        try:
            normalise_input(value)
        except (ValueError, TypeError) as error:
            where = "'text'" if request.text is not None else f"texts[{index}]"
            return RequestError(422, f"{where}: {error}")
    return ParsedRequest(inputs, request.text is not None, request.return_knowledge, request.box_threshold)


def answer_batch(ner, parsed: Sequence[ParsedRequest | RequestError], batch_size: int = 32) -> list[dict | RequestError]:
    """The answers of a batch of requests, in order: the texts of all good requests with the same options go
    through the pipeline in one call (so both stages batch them by length); errors stay as they are."""
    answers: list[dict | RequestError | None] = [item if isinstance(item, RequestError) else None for item in parsed]
    groups: dict[tuple, list[int]] = defaultdict(list)
    for index, item in enumerate(parsed):
        if isinstance(item, ParsedRequest):
            groups[(item.return_knowledge, item.box_threshold)].append(index)
    for (return_knowledge, box_threshold), indices in groups.items():
        inputs = [value for index in indices for value in parsed[index].inputs]
        options = {"return_knowledge": return_knowledge, "batch_size": batch_size}
        if box_threshold is not None:
            options["box_threshold"] = box_threshold
        try:
            found = ner(inputs, **options)
        except (ValueError, TypeError) as error:  # parse_request checks inputs; if one still fails, answer each alone
            if len(indices) == 1:
                answers[indices[0]] = RequestError(422, str(error))
                continue
            for index in indices:
                answers[index] = answer_batch(ner, [parsed[index]], batch_size)[0]
            continue
        cursor = 0
        for index in indices:
            item = parsed[index]
            mine = found[cursor : cursor + len(item.inputs)]
            cursor += len(item.inputs)
            answers[index] = {"entities": mine[0] if item.single else mine}
    return answers  # type: ignore[return-value]


def load_pipeline(model: str, optimize: str | None = None, threads: int | None = None):
    """The ``scanner-ner`` pipeline of a checkpoint (folder or Hub id), on ``threads`` torch threads."""
    from transformers import pipeline

    from .optimization import configure_threads

    configure_threads(threads)
    kwargs = {"optimize": optimize} if optimize else {}
    return pipeline("scanner-ner", model=model, **kwargs)


def threads_per_worker(workers: int, cores: int | None = None) -> int:
    """Each worker's share of the cores, so that workers together never start more threads than cores."""
    from .optimization import available_cpus

    return max(1, (cores or available_cpus()) // max(1, workers))


class ScannerAPI(ls.LitAPI):
    """One LitServe worker: the pipeline, fed batches of checked requests."""

    def __init__(self, model: str, limits: ServingLimits, threads: int, optimize: str | None = None,
                 pipeline_batch_size: int = 32, **options: Any):
        super().__init__(**options)
        self.model_name, self.limits, self.threads = model, limits, threads
        self.optimize, self.pipeline_batch_size = optimize, pipeline_batch_size

    def setup(self, device) -> None:
        os.environ["OMP_NUM_THREADS"] = str(self.threads)
        self.ner = load_pipeline(self.model_name, self.optimize, self.threads)
        logger.info("worker ready: %s on %d threads", self.model_name, self.threads)

    def decode_request(self, request: PredictRequest) -> ParsedRequest | RequestError:
        return parse_request(request, self.limits)

    def batch(self, inputs):
        return list(inputs)

    def predict(self, parsed):
        if not isinstance(parsed, list):  # max_batch_size 1: one request, unbatched
            return answer_batch(self.ner, [parsed], self.pipeline_batch_size)[0]
        return answer_batch(self.ner, parsed, self.pipeline_batch_size)

    def unbatch(self, output):
        return list(output)

    def encode_response(self, output) -> PredictResponse:
        if isinstance(output, RequestError):
            return JSONResponse({"detail": output.detail}, status_code=output.status)
        return output


class RequestTimeout(BaseHTTPMiddleware):
    """A 504 for a prediction not answered within ``timeout`` seconds, queue and work together (LitServe's own
    timeout bounds the wait in the queue only); the worker finishes the batch, and the late answer is dropped."""

    def __init__(self, app, timeout: float, paths: tuple[str, ...] = ("/predict",)):
        super().__init__(app)
        self.timeout, self.paths = timeout, paths

    async def dispatch(self, request, call_next):
        if request.url.path not in self.paths:
            return await call_next(request)
        try:
            return await asyncio.wait_for(call_next(request), self.timeout)
        except asyncio.TimeoutError:
            logger.warning("a request to %s got no answer within %.1f s: 504", request.url.path, self.timeout)
            return JSONResponse({"detail": f"no answer within {self.timeout:g} s (--timeout)"}, status_code=504)


def build_server(
    model: str,
    *,
    workers: int = 1,
    max_batch_size: int = 8,
    batch_timeout_ms: float = 10.0,
    timeout: float = 30.0,
    limits: ServingLimits = ServingLimits(),
    optimize: str | None = None,
    pipeline_batch_size: int = 32,
    max_payload_bytes: int | None = None,
):
    """A LitServe server for ``model``: ``workers`` processes, each with its share of the threads."""
    api = ScannerAPI(model, limits, threads_per_worker(workers), optimize, pipeline_batch_size, max_batch_size=max_batch_size,
                     batch_timeout=batch_timeout_ms / 1000.0, api_path="/predict")
    server_options = {"max_payload_size": max_payload_bytes or limits.max_image_bytes * 2 + 1_000_000}
    return ls.LitServer(api, accelerator="cpu", devices=1, workers_per_device=workers, timeout=timeout,
                        middlewares=[(RequestTimeout, {"timeout": timeout})], model_metadata={"model": model}, **server_options)


def serve(model: str, host: str = "127.0.0.1", port: int = 8000, **options: Any) -> None:
    """Serve ``model`` until interrupted (SIGINT/SIGTERM: uvicorn finishes the requests in flight)."""
    server = build_server(model, **options)

    main_process = os.getpid()

    def stop(signum, frame):  # SIGTERM (docker stop, kubernetes) takes LitServe's Ctrl+C path
        if os.getpid() != main_process:  # a forked worker that LitServe terminates: end as usual
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            os.kill(os.getpid(), signal.SIGTERM)
            return
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    server.run(host=host, port=port, generate_client_file=False, num_api_servers=1)
