"""``pipeline("scanner-ner")``: SCANNER behind the transformers pipeline API.

>>> from transformers import pipeline
>>> import scanner_hf  # registers "scanner-ner"
>>> ner = pipeline("scanner-ner", model="path/or/hub-id")                         # doctest: +SKIP
>>> ner("Steve Kerr praises the Warriors", image="tweet.jpg", caption="a man")    # doctest: +SKIP
[{'entity_group': 'PER', 'score': 0.98, 'word': 'Steve Kerr', 'start': 0, 'end': 10}, ...]

Inputs: a string, a list of strings, pre-tokenised words (``is_split_into_words=True``), or dicts with
``text`` (or ``words``), ``image`` (path or PIL image), ``image_id`` (the key of precomputed knowledge
files), ``caption``, ``objects`` and ``knowledge``.
Knowledge given with an input wins over the providers the checkpoint configures. ``optimize="onnx-int8"``
(or ``"int8"``, ``"onnx"``, ``"bf16"``, or a checkpoint saved with ``optimize``) runs both stages faster. Output per entity is
the ``ner`` pipeline's (``entity_group``, ``score``, ``word``, ``start``, ``end``: character offsets
into the caller's text) plus ``box`` / ``box_score`` for models that ground.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Iterable, Sequence

from transformers import Pipeline

from .prediction import chunk_size, default_providers, predict_inputs, screening_of
from .optimization import optimization_of, optimize_for_inference
from .processing_scanner import ScannerInput, ScannerProcessor, normalise_input
from .providers import KnowledgeProvider

logger = logging.getLogger(__name__)


class ScannerNERPipeline(Pipeline):
    """SCANNER's two stages as one pipeline call; see the module docstring for inputs and outputs."""

    _load_processor = False
    _load_image_processor = False
    _load_feature_extractor = False
    _load_tokenizer = True

    def __init__(
        self,
        *args,
        providers: Sequence[KnowledgeProvider] | None = None,
        optimize: str | None = None,
        max_context_words: int | None = None,
        screen: bool = True,
        screening_threshold: float | None = None,
        **kwargs,
    ):
        """``providers`` replace the checkpoint's knowledge settings; ``optimize`` (``none``, ``int8``,
        ``onnx``, ``onnx-int8``, ``bf16``) replaces its ``optimize`` and converts the model in place. Without it, a
        model already optimised (e.g. by ``scanner-ner --optimize``) is run as it is.
        ``max_context_words`` replaces the checkpoint's limit on the words one stage-2 prompt holds (0:
        no limit) for this pipeline only (the model's config is left as it is): for documents, each
        candidate then sees only the sentences around it.
        A checkpoint that screens (a typed stage 1 with ``config.stage1_screening``) types candidates
        with stage 1's types first and sends the ones below its ``screening_threshold`` (replaced by
        ``screening_threshold`` here) to the entity recogniser; ``screen=False`` types every candidate
        with the entity recogniser alone."""
        super().__init__(*args, **kwargs)
        if max_context_words is not None and (type(max_context_words) is not int or max_context_words < 0):
            raise ValueError(f"max_context_words must be a number of words (0: no limit), not {max_context_words!r}")
        if optimize is None:
            already = optimization_of(self.model)
            optimize = already if already != "none" else self.model.config.optimize
        optimize_for_inference(self.model, optimize)
        self.providers = list(providers) if providers is not None else default_providers(self.model.config.knowledge)
        # the checkpoint's processor (its window and prompt settings) with the pipeline's tokenizer; a model
        # built in Python without one gets the default settings
        processor = getattr(self.model, "processor", None)
        self.processor = copy.copy(processor) if processor is not None else ScannerProcessor(self.tokenizer)
        self.processor.tokenizer = self.tokenizer
        self.builder = self.processor.prompt_builder(self.model.entity_recognizer.config, max_context_words=max_context_words)
        self.screening = screening_of(self.model, screen, screening_threshold)

    def save_pretrained(self, save_directory, **kwargs) -> None:
        """As ``Pipeline.save_pretrained``, with the processor (the checkpoint's, or the default one a model
        built in Python runs with) beside the model."""
        super().save_pretrained(save_directory, **kwargs)
        self.processor.save_pretrained(save_directory)

    def _sanitize_parameters(self, image=None, is_split_into_words=None, box_threshold=None, return_knowledge=None, **kwargs):
        preprocess = {}
        if image is not None:
            preprocess["image"] = image
        if is_split_into_words is not None:
            preprocess["is_split_into_words"] = is_split_into_words
        postprocess = {}
        forward = {"box_threshold": box_threshold} if box_threshold is not None else {}
        if return_knowledge:
            forward["return_knowledge"] = True
        return preprocess, forward, postprocess

    def __call__(self, inputs, *args, **kwargs):
        """One input gives a list of entities; a list of inputs gives one list per input. Datasets
        (e.g. ``KeyDataset(ds, "text")``) and generators give a generator of results, in input order.
        Inputs are run ``batch_size`` times ``SORTING_WINDOW`` at a time (a list without ``batch_size``:
        all at once; a stream without it, or ``batch_size=1``: one at a time), and each stage encodes
        them in batches of similar length (stage 1 texts, stage 2 prompts), so texts of mixed lengths
        carry little padding. ``return_knowledge=True``: each entity also carries ``knowledge``, what its
        prompt was given (KB entries, caption, LLM text, objects, and what the token budget cut)."""
        split = kwargs.pop("is_split_into_words", False)
        return_knowledge = bool(kwargs.pop("return_knowledge", False))
        image = kwargs.pop("image", None)
        box_threshold = kwargs.pop("box_threshold", None)
        batch_size = kwargs.pop("batch_size", None)
        kwargs.pop("num_workers", None)  # the transformers idiom passes it; inputs are prepared in this process
        if args or kwargs:
            raise TypeError(f"unexpected arguments {sorted(kwargs) or args}")
        if batch_size is not None and (not isinstance(batch_size, int) or batch_size < 1):
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
        if not isinstance(inputs, (str, dict, list, tuple)):
            if not isinstance(inputs, Iterable) and not hasattr(inputs, "__getitem__"):  # torch datasets index
                raise TypeError(f"expected a string, a list of strings or a dict, got {type(inputs).__name__}")
            if isinstance(image, list):
                raise TypeError("a list of images goes with a list of inputs; give datasets of dicts with 'image' instead")
            return self._stream(iter(inputs), batch_size or 1, image, split, box_threshold, return_knowledge)
        single = isinstance(inputs, (str, dict)) or (split and bool(inputs) and all(isinstance(w, str) for w in inputs))
        batch = [inputs] if single else list(inputs)
        images = image if isinstance(image, list) else [image] * len(batch)
        if len(images) != len(batch):
            raise ValueError(f"{len(images)} images for {len(batch)} inputs")
        prepared = [self.preprocess(value, image=img, is_split_into_words=split) for value, img in zip(batch, images)]
        step = chunk_size(batch_size) if batch_size else max(1, len(prepared))
        results = []
        for offset in range(0, len(prepared), step):
            results += [self.postprocess(output) for output in self._run(prepared[offset : offset + step], box_threshold=box_threshold,
                                                                          return_knowledge=return_knowledge)]
        return results[0] if single else results

    def _stream(self, inputs, batch_size: int, image, split: bool, box_threshold, return_knowledge: bool = False):
        chunk: list[ScannerInput] = []
        for value in inputs:
            chunk.append(self.preprocess(value, image=image, is_split_into_words=split))
            if len(chunk) == chunk_size(batch_size):
                yield from (self.postprocess(output) for output in self._run(chunk, box_threshold=box_threshold, return_knowledge=return_knowledge))
                chunk = []
        if chunk:
            yield from (self.postprocess(output) for output in self._run(chunk, box_threshold=box_threshold, return_knowledge=return_knowledge))

    def preprocess(self, inputs, image=None, is_split_into_words: bool = False) -> ScannerInput:
        return normalise_input(inputs, image=image, is_split_into_words=is_split_into_words)

    def _forward(self, model_inputs: ScannerInput, box_threshold: float | None = None, return_knowledge: bool = False) -> dict:
        return self._run([model_inputs], box_threshold=box_threshold, return_knowledge=return_knowledge)[0]

    def forward(self, model_inputs, **forward_params):
        # the stages move their own tensors; skip the base class's tensor shuffling
        return self._forward(model_inputs, **forward_params)

    def _run(self, prepared: list[ScannerInput], box_threshold: float | None = None, return_knowledge: bool = False) -> list[dict]:
        found = predict_inputs(self.model, self.processor, prepared, self.providers, self.builder,
                               screening=self.screening, box_threshold=box_threshold, return_knowledge=return_knowledge)
        return [{"input": item, "entities": entities} for item, entities in zip(prepared, found)]

    def postprocess(self, model_outputs: dict) -> list[dict]:
        return model_outputs["entities"]
