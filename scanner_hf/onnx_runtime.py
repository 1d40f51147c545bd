"""Encoders run by ONNX Runtime: the ``onnx`` and ``onnx-int8`` inference optimisations.

Each stage's encoder (the transformer body; heads, word embeddings and all Python around it stay in
PyTorch) is exported once to ONNX when the model is loaded with the option, optionally quantised to
int8 by ONNX Runtime's dynamic quantisation, and replaced by :class:`OnnxEncoder`, which takes the
encoder's arguments and returns its ``last_hidden_state``. The graph takes input embeddings (so word
shapes, added to them, keep working), an additive 4D attention mask (a padding mask is expanded to
it) and position ids. As in the PyTorch int8 path, int8 leaves the
down-projections (``in > out`` weights: each feed-forward block's second layer) in fp32.

Exporting takes seconds, so each graph is kept in ``$SCANNER_HF_CACHE/onnx/`` under a hash of what
makes it (the encoder's class, configuration and weights, int8 or not, and the exporter's and ONNX
Runtime's versions): the next load of the same model reads it instead (a changed model gets a new
graph; an unreadable cached graph is logged and exported again).

Why not ``optimum``: its ONNX exporter (optimum-onnx 0.1.0, the newest here) requires transformers<4.58;
``torch.onnx.export`` and ``onnxruntime`` are what it builds on. Needs ``pip install onnxruntime onnx``.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import tempfile
import time
import warnings
from pathlib import Path

import torch
from torch import nn
from transformers import PreTrainedModel
from transformers.modeling_outputs import BaseModelOutput

from .configuration import cache_root
from .optimization import is_down_projection

logger = logging.getLogger(__name__)

OPSET = 17
GRAPH_FORMAT = "1"  # part of every cached graph's key: change it when the export or the int8 rule changes


def _require_onnxruntime():
    try:
        import onnx  # noqa: F401
        import onnxruntime
    except ImportError as error:
        raise ImportError("the onnx inference optimisations need onnxruntime and onnx: pip install onnxruntime onnx") from error
    return onnxruntime


class _EncoderGraph(nn.Module):
    """What is exported: embeddings in, last hidden state out."""

    def __init__(self, encoder: PreTrainedModel):
        super().__init__()
        self.encoder = encoder

    def forward(self, inputs_embeds: torch.Tensor, attention_mask: torch.Tensor, position_ids: torch.Tensor) -> torch.Tensor:
        return self.encoder(
            inputs_embeds=inputs_embeds, attention_mask=attention_mask, position_ids=position_ids, return_dict=True
        ).last_hidden_state


def export_encoder(encoder: PreTrainedModel) -> bytes:
    """The encoder as an ONNX graph (dynamic batch and length)."""
    encoder = encoder.eval()
    batch, length = 2, 8
    hidden = encoder.get_input_embeddings().embedding_dim
    example = (
        torch.zeros(batch, length, hidden),
        torch.zeros(batch, 1, length, length),
        torch.arange(length).expand(batch, length).contiguous(),
    )
    buffer = io.BytesIO()
    with torch.no_grad(), warnings.catch_warnings():
        # the tracer notes Python-side checks it freezes (e.g. "no mask given": a mask always is)
        warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)
        # the TorchScript exporter is deprecated in favour of torch.export's, which needs onnxscript and
        # declared dynamic shapes; this one exports these encoders faithfully (tests compare with PyTorch)
        warnings.filterwarnings("ignore", category=DeprecationWarning, message=r".*legacy TorchScript-based ONNX export")
        warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"torch\.onnx\._internal\.torchscript_exporter")
        torch.onnx.export(
            _EncoderGraph(encoder).eval(), example, buffer, input_names=["inputs_embeds", "attention_mask", "position_ids"],
            output_names=["last_hidden_state"], opset_version=OPSET, dynamo=False,
            dynamic_axes={
                "inputs_embeds": {0: "batch", 1: "length"}, "attention_mask": {0: "batch", 2: "length", 3: "length"},
                "position_ids": {0: "batch", 1: "length"}, "last_hidden_state": {0: "batch", 1: "length"},
            },
        )
    return buffer.getvalue()


def down_projections(graph: bytes) -> list[str]:
    """MatMul nodes whose weight (``(in, out)`` in ONNX) is a down-projection (left in fp32 by int8)."""
    import onnx
    from onnx import numpy_helper

    model = onnx.load_from_string(graph)
    shapes = {init.name: numpy_helper.to_array(init).shape for init in model.graph.initializer}
    return [
        node.name for node in model.graph.node
        if node.op_type == "MatMul" and len(shapes.get(node.input[1], ())) == 2 and is_down_projection(*shapes[node.input[1]])
    ]


def quantize_int8(graph: bytes) -> bytes:
    """ONNX Runtime dynamic quantisation (int8 weights, activations quantised per batch), down-projections kept fp32."""
    _require_onnxruntime()
    from onnxruntime.quantization import QuantType, quantize_dynamic

    with tempfile.TemporaryDirectory() as folder:
        source, target = Path(folder) / "fp32.onnx", Path(folder) / "int8.onnx"
        source.write_bytes(graph)
        quantize_dynamic(source, target, weight_type=QuantType.QInt8, nodes_to_exclude=down_projections(graph))
        return target.read_bytes()


def graph_cache_path(encoder: PreTrainedModel, *, int8: bool) -> Path:
    """Where the encoder's exported graph is kept: ``$SCANNER_HF_CACHE/onnx/<hash>[-int8].onnx``, the hash
    over what the graph is made from (hashing MiniLM's weights takes a fraction of a second)."""
    digest = hashlib.sha256()
    for part in (GRAPH_FORMAT, str(OPSET), torch.__version__, _require_onnxruntime().__version__, type(encoder).__name__,
                 encoder.config.to_json_string(use_diff=False)):
        digest.update(part.encode() + b"\0")
    for name, tensor in sorted(encoder.state_dict().items()):
        tensor = tensor.detach().to("cpu").contiguous()
        digest.update(f"{name}:{tensor.dtype}:{tuple(tensor.shape)}\0".encode())
        digest.update(tensor.view(-1).view(torch.uint8).numpy())
    return cache_root() / "onnx" / f"{digest.hexdigest()[:24]}{'-int8' if int8 else ''}.onnx"


def _write_atomically(path: Path, data: bytes) -> None:
    """Write to a temporary name, then rename: a process reading the cache never sees half a graph."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        temporary.write_bytes(data)
        os.replace(temporary, path)
    except OSError as error:
        logger.warning("could not keep the ONNX graph in %s (%s); the next load exports it again", path, error)


class OnnxEncoder(nn.Module):
    """Stands in for a stage's encoder: called like it (ids or embeddings, a 2D padding mask or an
    additive 4D mask, position ids), returns a ``BaseModelOutput`` with ``last_hidden_state``."""

    def __init__(self, encoder: PreTrainedModel, *, int8: bool, num_threads: int | None = None):
        super().__init__()
        onnxruntime = _require_onnxruntime()
        if encoder.device.type != "cpu":
            raise ValueError(f"the onnx optimisations run on the CPU; the model is on {encoder.device}")
        start = time.perf_counter()
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = num_threads or torch.get_num_threads()
        options.inter_op_num_threads = 1
        options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
        path = graph_cache_path(encoder, int8=int8)
        self.session, self.graph_path = None, path
        if path.is_file():
            try:
                self.session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
                logger.info("ONNX encoder%s read from %s in %.1f s", " (int8)" if int8 else "", path, time.perf_counter() - start)
            except Exception as error:  # noqa: BLE001 - onnxruntime raises its own exception types
                logger.warning("cached ONNX graph %s is unreadable (%s): exporting it again", path, error)
        if self.session is None:
            graph = export_encoder(encoder)
            if int8:
                graph = quantize_int8(graph)
            self.session = onnxruntime.InferenceSession(graph, options, providers=["CPUExecutionProvider"])
            _write_atomically(path, graph)
            logger.info("encoder exported to ONNX%s in %.1f s, kept in %s", " (int8)" if int8 else "", time.perf_counter() - start, path)
        self.word_embeddings = encoder.get_input_embeddings()
        self.config = encoder.config
        self.int8 = int8

    def get_input_embeddings(self) -> nn.Module:
        return self.word_embeddings

    @property
    def device(self) -> torch.device:
        return torch.device("cpu")

    def forward(
        self,
        input_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        position_ids: torch.Tensor | None = None,
        inputs_embeds: torch.Tensor | None = None,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = True,
        **kwargs,
    ) -> BaseModelOutput:
        if output_attentions or output_hidden_states:
            raise ValueError("an ONNX encoder returns the last hidden state only (no attentions or hidden states)")
        if token_type_ids is not None and bool(token_type_ids.any()):
            raise ValueError("the ONNX encoder was exported for token type 0 only")
        if inputs_embeds is None:
            inputs_embeds = self.word_embeddings(input_ids)
        batch, length = inputs_embeds.shape[:2]
        if attention_mask is None:
            attention_mask = torch.ones(batch, length, dtype=torch.long)
        lowest = torch.finfo(torch.float32).min
        if attention_mask.dim() == 2:  # padding mask -> additive mask over keys, the same for every query
            blocked = torch.zeros(attention_mask.shape, dtype=torch.float32).masked_fill_(attention_mask == 0, lowest)
            attention_mask = blocked[:, None, None, :].expand(batch, 1, length, length)
        elif attention_mask.dim() != 4 or attention_mask.shape[-2:] != (length, length):
            raise ValueError(f"the ONNX encoder takes a (batch, length) or (batch, 1, length, length) mask, not {tuple(attention_mask.shape)}")
        elif attention_mask.dtype == torch.bool:  # True = may attend
            attention_mask = torch.zeros(attention_mask.shape, dtype=torch.float32).masked_fill_(~attention_mask, lowest)
        if position_ids is None:
            position_ids = torch.arange(length).expand(batch, length)
        feeds = {
            "inputs_embeds": inputs_embeds.detach().float().contiguous().numpy(),
            "attention_mask": attention_mask.detach().float().contiguous().numpy(),
            "position_ids": position_ids.detach().long().contiguous().numpy(),
        }
        (hidden,) = self.session.run(["last_hidden_state"], feeds)
        return BaseModelOutput(last_hidden_state=torch.from_numpy(hidden))


def replace_encoders(model: nn.Module, *, int8: bool) -> int:
    """Swap every stage's encoder in ``model`` (a stage, the composite, or any transformers model with a
    base model) for an :class:`OnnxEncoder`; returns how many were swapped."""
    swapped = 0
    for module in list(model.modules()):
        if not isinstance(module, PreTrainedModel):
            continue
        prefix = module.base_model_prefix
        encoder = getattr(module, prefix, None)
        if isinstance(encoder, PreTrainedModel) and encoder is not module:  # a swapped encoder is no PreTrainedModel
            setattr(module, prefix, OnnxEncoder(encoder, int8=int8))
            swapped += 1
    if not swapped:
        raise ValueError(f"no encoder found in {type(model).__name__} to run with ONNX Runtime")
    return swapped
