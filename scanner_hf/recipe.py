"""The training recipe: a YAML config validated at start-up, and the steps that run it.

So far the recipe trains and evaluates SCANNER's stage-1 span detector; later steps of the paper's
recipe (stage 2, distillation, knowledge) extend :class:`Recipe` with their own sections.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from transformers import AutoTokenizer, TrainingArguments, set_seed

from .backbones import resolve_backbone
from .data import BENCHMARKS, default_data_dir, entity_strings, load_benchmark
from .modeling_span_detector import ScannerSpanDetector
from .training import encode_token_classification, score_token_classifier, token_classification_trainer

logger = logging.getLogger(__name__)


class RecipeError(ValueError):
    """The recipe config is wrong; raised before any training starts."""


@dataclass
class StageTraining:
    """Optimisation settings of one stage (the paper's Tables 9 and 10)."""

    epochs: float = 10
    batch_size: int = 8
    learning_rate: float = 2e-5
    weight_decay: float = 0.01
    warmup_ratio: float = 0.1  # a fraction of the steps (transformers v5: warmup_steps < 1)
    max_train_samples: int | None = None  # a CPU-budget cap; None uses the whole split
    max_eval_samples: int | None = None


@dataclass
class Recipe:
    dataset: str
    output_dir: str
    backbone: str = "sentence-transformers/all-MiniLM-L6-v2"
    data_dir: str | None = None
    seed: int = 42
    max_length: int = 256
    stage1: StageTraining = field(default_factory=StageTraining)


_SECTIONS: dict[str, type] = {"stage1": StageTraining}
_NUMBER_TYPES = {"float": float, "int": int}


def _build(cls: type, values: dict[str, Any], where: str):
    """Instantiate a recipe dataclass, rejecting unknown keys and coercing numbers (YAML reads
    ``5e-5`` as a string)."""
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise RecipeError(f"{where}: unknown keys {unknown}; allowed: {sorted(fields)}")
    kwargs = {}
    for name, value in values.items():
        if name in _SECTIONS:
            value = _build(_SECTIONS[name], value or {}, f"{where}.{name}")
        elif value is not None and (number_type := _NUMBER_TYPES.get(str(fields[name].type).split(" ")[0])):
            try:
                value = number_type(value)
            except (TypeError, ValueError):
                raise RecipeError(f"{where}.{name}: expected a number, got {value!r}") from None
        kwargs[name] = value
    try:
        return cls(**kwargs)
    except TypeError as error:
        raise RecipeError(f"{where}: {error}") from None


def load_recipe(path: str | Path, overrides: dict[str, Any] | None = None) -> Recipe:
    """Read and validate a recipe YAML; unknown keys, unknown datasets and missing data fail here."""
    with open(path, encoding="utf-8") as handle:
        values = yaml.safe_load(handle) or {}
    if not isinstance(values, dict):
        raise RecipeError(f"{path}: expected a mapping at the top level")
    values.update(overrides or {})
    recipe = _build(Recipe, values, str(path))
    if recipe.dataset not in BENCHMARKS:
        raise RecipeError(f"{path}: unknown dataset {recipe.dataset!r}; choose from {sorted(BENCHMARKS)}")
    data_dir = Path(recipe.data_dir) if recipe.data_dir else default_data_dir()
    if not (data_dir / BENCHMARKS[recipe.dataset].folder).is_dir():
        raise RecipeError(f"{path}: data folder {data_dir / BENCHMARKS[recipe.dataset].folder} does not exist")
    return recipe


def _select(dataset, limit: int | None):
    return dataset if limit is None or limit >= len(dataset) else dataset.select(range(limit))


def train_stage1(recipe: Recipe) -> dict:
    """Train the span detector, evaluate it on the test split, save it, and return the test scores."""
    set_seed(recipe.seed)
    splits = load_benchmark(recipe.dataset, recipe.data_dir)
    seen = entity_strings(splits["train"])
    backbone = resolve_backbone(recipe.backbone)
    tokenizer = AutoTokenizer.from_pretrained(backbone)
    model = ScannerSpanDetector.from_encoder(backbone)
    settings = recipe.stage1
    encoded = {
        name: encode_token_classification(split, tokenizer, target="untyped", max_length=recipe.max_length)
        for name, split in splits.items()
    }
    output_dir = Path(recipe.output_dir) / "stage1"
    args = TrainingArguments(
        output_dir=str(output_dir / "checkpoints"),
        num_train_epochs=settings.epochs,
        per_device_train_batch_size=settings.batch_size,
        per_device_eval_batch_size=64,
        learning_rate=settings.learning_rate,
        weight_decay=settings.weight_decay,
        warmup_steps=settings.warmup_ratio,
        eval_strategy="no",
        save_strategy="no",
        logging_steps=50,
        seed=recipe.seed,
        report_to=[],
    )
    trainer = token_classification_trainer(
        model,
        tokenizer,
        args,
        train_dataset=_select(encoded["train"], settings.max_train_samples),
        seen_entities=seen,
    )
    trainer.train()
    scores = score_token_classifier(trainer, _select(encoded["test"], settings.max_eval_samples), seen_entities=seen)
    model.save_pretrained(output_dir)
    tokenizer.save_pretrained(output_dir)
    (output_dir / "test_scores.json").write_text(json.dumps(scores, indent=2))
    logger.info("stage-1 detector saved to %s", output_dir)
    return scores
