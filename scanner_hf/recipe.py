"""Training recipes: a YAML file naming the data and the :class:`ScannerTrainingArguments`, validated at
start-up, then run by :class:`scanner_hf.trainer.ScannerTrainer`.

    dataset: twitter2017            # a benchmark name, your folder / file, or a Hub dataset id
    dataset_options: {format: conll, tag_scheme: bioes}      # for your own data (optional)
    output_dir: runs/twitter2017
    stage1: {epochs: 3, batch_size: 16, learning_rate: 1.0e-4}
    knowledge: {wikipedia: [ovos, geonames]}

Every key besides ``dataset``, ``data_dir`` and ``dataset_options`` is a field of
:class:`ScannerTrainingArguments` (sections: ``stage1`` / ``stage2`` / ``knowledge`` / ``distillation`` /
``awp``). ``knowledge.llm: true`` (a benchmark's precomputed LLM files) is resolved here, since only a
recipe knows which benchmark its data is.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from .data import BENCHMARKS, default_data_dir, load_ner_dataset
from .distillation_trainer import AWPSettings
from .knowledge import KnowledgeProvider
from .knowledge.kb_sources import KnowledgeBaseError
from .knowledge.llm import benchmark_llm_knowledge
from .trainer import (
    DistillationSettings,
    KnowledgeSettings,
    ScannerTrainer,
    ScannerTrainingArguments,
    StageTraining,
)

logger = logging.getLogger(__name__)

__all__ = ["DistillationSettings", "KnowledgeSettings", "Recipe", "RecipeError", "StageTraining", "load_recipe", "run_recipe"]


class RecipeError(ValueError):
    """The recipe config is wrong; raised before any training starts."""


DATASET_OPTIONS = {
    "format", "tag_scheme", "label_map", "tokens_column", "tags_column", "image_column", "image_id_column",
    "image_dir", "hub_config", "validation_size",
}


@dataclass
class Recipe(ScannerTrainingArguments):
    """A YAML recipe: the data (``dataset`` + ``data_dir`` + ``dataset_options``) and the training arguments."""

    dataset: str = ""  # a benchmark name, a local folder or file, or a Hub dataset id (see scanner_hf.data.load_ner_dataset)
    data_dir: str | None = None
    dataset_options: dict | None = None  # for your own data: format, tag_scheme, label_map, *_column, image_dir, hub_config, validation_size

    def __post_init__(self) -> None:
        if not self.dataset:
            raise ValueError("a recipe needs 'dataset'")
        super().__post_init__()


_SECTIONS: dict[str, type] = {
    "stage1": StageTraining,
    "stage2": StageTraining,
    "knowledge": KnowledgeSettings,
    "distillation": DistillationSettings,
    "awp": AWPSettings,
}
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
    except (TypeError, ValueError, KnowledgeBaseError) as error:
        raise RecipeError(f"{where}: {error}") from None


def load_recipe(path: str | Path, overrides: dict[str, Any] | None = None) -> Recipe:
    """Read and validate a recipe YAML; unknown keys, unknown datasets and missing data fail here."""
    with open(path, encoding="utf-8") as handle:
        values = yaml.safe_load(handle) or {}
    if not isinstance(values, dict):
        raise RecipeError(f"{path}: expected a mapping at the top level")
    values.update(overrides or {})
    recipe = _build(Recipe, values, str(path))
    unknown_options = set(recipe.dataset_options or {}) - DATASET_OPTIONS
    if unknown_options:
        raise RecipeError(f"{path}: unknown dataset_options {sorted(unknown_options)}; allowed: {sorted(DATASET_OPTIONS)}")
    if recipe.dataset in BENCHMARKS:
        data_dir = Path(recipe.data_dir) if recipe.data_dir else default_data_dir()
        if not (data_dir / BENCHMARKS[recipe.dataset].folder).is_dir():
            raise RecipeError(f"{path}: data folder {data_dir / BENCHMARKS[recipe.dataset].folder} does not exist")
    elif not Path(recipe.dataset).exists() and recipe.dataset.count("/") != 1:
        raise RecipeError(
            f"{path}: dataset {recipe.dataset!r} is not a benchmark ({', '.join(sorted(BENCHMARKS))}), an existing folder or "
            "file, or a Hub dataset id (owner/name)"
        )
    if recipe.knowledge.llm is True and recipe.dataset not in BENCHMARKS:
        raise RecipeError(f"{path}: knowledge.llm: true is a benchmark's precomputed LLM files; for your data name a live LLM")
    return recipe


def knowledge_providers(settings: KnowledgeSettings, recipe: Recipe | None = None, splits=None) -> list[KnowledgeProvider]:
    """The providers a recipe asks for (none: text only); ``llm: true`` needs the recipe's dataset
    and its loaded splits to align the benchmark's LLM files."""
    providers = ScannerTrainer.providers_from_settings(settings)
    if settings.llm is True:
        if recipe is None or splits is None:
            raise ValueError("LLM knowledge is aligned to a dataset: pass the recipe and its splits")
        data_dir = Path(recipe.data_dir) if recipe.data_dir else default_data_dir()
        providers.insert(1 if settings.wikipedia else 0, benchmark_llm_knowledge(recipe.dataset, splits, data_dir))
    return providers


def recipe_trainer(recipe: Recipe) -> ScannerTrainer:
    """The :class:`ScannerTrainer` a recipe describes, with its data loaded."""
    splits = load_ner_dataset(recipe.dataset, data_dir=recipe.data_dir, seed=recipe.seed, **(recipe.dataset_options or {}))
    if "test" not in splits:
        raise RecipeError(f"dataset {recipe.dataset!r} has no test split: the recipe scores the model on it and writes its card")
    return ScannerTrainer(
        recipe, splits["train"], splits.get("validation"), splits["test"],
        providers=knowledge_providers(recipe.knowledge, recipe, splits), dataset_name=recipe.dataset,
    )


def run_recipe(recipe: Recipe) -> dict[str, dict]:
    """Train and score everything a recipe describes (see :meth:`ScannerTrainer.train`)."""
    return recipe_trainer(recipe).train()
