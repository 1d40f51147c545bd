"""Faster CPU inference, opt-in and saved with the checkpoint.

``int8``: PyTorch dynamic quantisation of the linear layers of both stages (weights int8, activations
quantised per batch; fbgemm/x86 kernels, any x86-64 CPU with AVX2), except the down-projections
(``in_features > out_features``: each feed-forward block's second layer and the classifier heads),
whose inputs carry the post-activation outliers that int8 clips: on Twitter-2017 quantising them too
cost 1.3 F1, keeping them in fp32 cost nothing (benchmarks/RESULTS.md, "Pipeline speed"). ``bf16``: both stages in bfloat16
(fast only where the CPU has AVX-512 BF16 or AMX; elsewhere emulated and slower). ``onnx`` /
``onnx-int8``: each stage's encoder exported to ONNX when the model loads (once per model: the graph is kept
in ``$SCANNER_HF_CACHE/onnx``) and run by ONNX Runtime, in
fp32 or with its int8 dynamic quantisation (same layers kept in fp32; :mod:`.onnx_runtime`; needs
``onnxruntime`` and ``onnx``). ``none``: fp32.
Which wins on which machine is measured in ``benchmarks/pipeline_speed.py``.

>>> model.config.optimize = "int8"; model.save_pretrained("fast")    # doctest: +SKIP
>>> ner = pipeline("scanner-ner", model="fast")          # loads fp32 weights, runs int8  # doctest: +SKIP
>>> ner = pipeline("scanner-ner", model="plain", optimize="int8")                 # doctest: +SKIP

Also here: thread settings that do not oversubscribe a machine shared by several processes.
"""

from __future__ import annotations

import logging
import os
import warnings

import torch

from .configuration import INFERENCE_OPTIMIZATIONS

logger = logging.getLogger(__name__)


def check_optimization(mode: str | None) -> str:
    """The validated mode (``None`` means ``none``)."""
    mode = "none" if mode is None else str(mode).lower()
    if mode not in INFERENCE_OPTIMIZATIONS:
        raise ValueError(f"unknown inference optimisation {mode!r}; choose one of {', '.join(INFERENCE_OPTIMIZATIONS)}")
    return mode


def optimization_of(model: torch.nn.Module) -> str:
    """What :func:`optimize_for_inference` did to ``model`` (``none`` if nothing)."""
    return getattr(model, "_scanner_optimization", "none")


def optimize_for_inference(model: torch.nn.Module, mode: str | None) -> torch.nn.Module:
    """Convert ``model`` (a stage or the composite) in place for inference and return it.

    The model is put in eval mode; an int8 or onnx model cannot be trained or saved afterwards (save the
    fp32 model with ``config.optimize`` set instead). Converting twice is an error, except to
    the mode the model already has."""
    mode = check_optimization(mode)
    current = optimization_of(model)
    if mode == current:
        return model.eval()
    if current != "none":
        raise ValueError(f"the model is already optimised as {current!r}; load it again to use {mode!r}")
    if mode == "int8":
        if model.device.type != "cpu":
            raise ValueError(f"int8 dynamic quantisation runs on the CPU; the model is on {model.device}")
        engines = torch.backends.quantized.supported_engines
        if "x86" in engines:
            torch.backends.quantized.engine = "x86"
        elif "fbgemm" in engines:
            torch.backends.quantized.engine = "fbgemm"
        with warnings.catch_warnings():
            # torch.ao's eager dynamic quantisation is deprecated in favour of torchao, but it
            # needs no extra package and no torch.compile; its speed is measured in benchmarks/pipeline_speed.py
            warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"torch\.ao")
            warnings.filterwarnings("ignore", message=r".*(torch\.ao\.quantization is deprecated|quantize_per_tensor).*")
            torch.ao.quantization.quantize_dynamic(model, int8_layers(model), dtype=torch.qint8, inplace=True)
    elif mode == "bf16":
        model.to(torch.bfloat16)
    elif mode in ("onnx", "onnx-int8"):
        from .onnx_runtime import replace_encoders

        replace_encoders(model, int8=mode == "onnx-int8")
    model._scanner_optimization = mode
    logger.info("inference optimisation: %s", mode)
    return model.eval()


def is_down_projection(in_features: int, out_features: int) -> bool:
    """A weight mapping more inputs to fewer outputs: its inputs carry the post-activation outliers
    that int8 clips, so both int8 paths (PyTorch and ONNX Runtime) keep it in fp32."""
    return in_features > out_features


def int8_layers(model: torch.nn.Module) -> set[str]:
    """Names of the linear layers the int8 path quantises: all but the down-projections."""
    return {
        name for name, module in model.named_modules()
        if isinstance(module, torch.nn.Linear) and not is_down_projection(module.in_features, module.out_features)
    }


def available_cpus() -> int:
    """CPUs this process may run on (its affinity mask, not the machine's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def configure_threads(num_threads: int | None = None) -> int:
    """Set torch's intra-op threads and return the number. Explicit ``num_threads`` wins, then
    ``OMP_NUM_THREADS``; otherwise the available CPUs are shared evenly between the processes of this
    machine (``LOCAL_WORLD_SIZE``, set by ``accelerate launch`` / ``torchrun``), so N processes on a
    machine never start N x cores threads."""
    if num_threads is None and os.environ.get("OMP_NUM_THREADS", "").isdigit():
        num_threads = int(os.environ["OMP_NUM_THREADS"])
    if num_threads is None:
        local_processes = int(os.environ.get("LOCAL_WORLD_SIZE", "1") or 1)
        num_threads = max(1, available_cpus() // max(1, local_processes))
    if num_threads < 1:
        raise ValueError(f"num_threads must be at least 1, got {num_threads}")
    torch.set_num_threads(num_threads)
    return num_threads
