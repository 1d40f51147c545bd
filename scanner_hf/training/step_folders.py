"""The files a training run writes, safe under ``accelerate launch``: each step's folder written atomically
by the main process while the others wait, and the split caps the stage arguments carry."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import datasets
from accelerate import PartialState
from transformers import TrainingArguments

WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin")


def select_first(dataset: datasets.Dataset | None, limit: int | None) -> datasets.Dataset | None:
    return dataset if dataset is None or limit is None or limit >= len(dataset) else dataset.select(range(limit))


def on_main_process(write: Callable[[], Any]) -> None:
    """Run a write (files, upload) once under ``accelerate launch``; the other processes wait for it."""
    state = PartialState()
    if state.is_main_process:
        write()
    state.wait_for_everyone()


def stage_setting(args: TrainingArguments, name: str):
    """A stage setting that plain TrainingArguments may lack (StageTrainingArguments' caps)."""
    return getattr(args, name, None)


def is_complete_step(folder: Path) -> bool:
    """Whether ``folder`` holds a saved model (config and weights)."""
    return (folder / "config.json").is_file() and any((folder / name).is_file() for name in WEIGHT_FILES)


def save_step(model, processor, folder: Path) -> None:
    """Write a step's model atomically: a temporary folder renamed into place."""

    def write() -> None:
        temporary = folder.with_name(f".{folder.name}.partial")
        shutil.rmtree(temporary, ignore_errors=True)
        model.save_pretrained(temporary)
        processor.save_pretrained(temporary)
        if folder.is_symlink() or folder.is_file():
            folder.unlink()
        elif folder.exists():
            shutil.rmtree(folder)
        temporary.rename(folder)

    on_main_process(write)


def write_json(path: Path, value) -> None:
    def write() -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(value, indent=2))

    on_main_process(write)
