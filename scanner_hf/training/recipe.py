"""Training recipes: a YAML file naming the data, the model to build and how to train it, validated at
start-up, then run as ``ScannerForMultimodalNER.from_encoder`` + :class:`scanner_hf.training.trainer.ScannerTrainer`.

    dataset: twitter2017            # a benchmark name, your folder / file, or a Hub dataset id
    dataset_options: {format: conll, tag_scheme: bioes}      # for your own data (optional)
    output_dir: runs/twitter2017
    backbone: sentence-transformers/all-MiniLM-L6-v2
    stage1: {num_train_epochs: 3, per_device_train_batch_size: 16, learning_rate: 1.0e-4, report_to: tensorboard}
    knowledge: {wikipedia: [ovos, geonames]}

The model keys (``backbone``, ``stage1_max_length``, ``word_shapes``, ``candidate_threshold``, ``max_objects``, ``grounding_weight``, ``max_prompt_length``, ``max_context_words``, ``stage1_screening``)
go to ``from_encoder`` and are saved in the checkpoint's config; ``stage1`` / ``stage2`` take any
``transformers.TrainingArguments`` field (plus ``max_train_samples`` / ``max_eval_samples``); the rest are
:class:`ScannerTrainingArguments` fields (sections ``knowledge`` / ``distillation`` / ``awp``).
``knowledge.llm: true`` (a benchmark's precomputed LLM files) is resolved here, since only a recipe knows
which benchmark its data is.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from transformers import set_seed

from ..configuration import STAGE1_KNOWLEDGE_REMOVED
from ..data import BENCHMARKS, default_data_dir, entity_types_of, load_ner_dataset
from ..knowledge import KnowledgeProvider
from ..knowledge.kb_sources import KnowledgeBaseError
from ..knowledge.llm import benchmark_llm_knowledge
from ..modeling_scanner import ScannerForMultimodalNER
from .arguments import (
    DistillationSettings,
    KnowledgeSettings,
    ScannerTrainingArguments,
)
from .distillation_trainer import AWPSettings
from .stages import StageTrainingArguments, stage_training_arguments
from .trainer import ScannerTrainer

logger = logging.getLogger(__name__)

__all__ = ["DistillationSettings", "KnowledgeSettings", "Recipe", "RecipeError", "load_recipe", "recipe_trainer", "run_recipe"]


class RecipeError(ValueError):
    """The recipe config is wrong; raised before any training starts."""


DATASET_OPTIONS = {
    "format", "tag_scheme", "label_map", "tokens_column", "tags_column", "image_column", "image_id_column",
    "image_dir", "hub_config", "validation_size",
}


# the recipe keys that say what the model is: ScannerForMultimodalNER.from_encoder's settings
MODEL_KEYS = ("stage1_max_length", "word_shapes", "candidate_threshold",
              "max_objects", "grounding_weight", "max_prompt_length", "max_context_words", "stage1_screening")
# 0.1's recipe names -> today's (transformers' own names in the stage sections)
RENAMED = {"max_length": "stage1_max_length", "epochs": "num_train_epochs", "batch_size": "per_device_train_batch_size",
           "warmup_ratio": "warmup_steps"}
# keys of options that measured worse and were removed -> why (their numbers stay in benchmarks/RESULTS.md)
REMOVED_KEYS = dict.fromkeys(("kb_features", "kb_feature_dropout", "kb_candidates"), f"stage-1 knowledge {STAGE1_KNOWLEDGE_REMOVED}")


@dataclass
class Recipe:
    """A YAML recipe: the data, the model to build and how to train it (see the module docstring)."""

    dataset: str = ""  # a benchmark name, a local folder or file, or a Hub dataset id (see scanner_hf.data.load_ner_dataset)
    output_dir: str = ""
    data_dir: str | None = None
    dataset_options: dict | None = None  # for your own data: format, tag_scheme, label_map, *_column, image_dir, hub_config, validation_size
    backbone: str = "sentence-transformers/all-MiniLM-L6-v2"
    seed: int = 42  # both stages' TrainingArguments seed, the cross-fold split and the validation split cut from train
    stage1_max_length: int = 256  # stage-1 window, in sub-words
    word_shapes: bool | None = None  # stage 1 sees each word's capitalisation / shape; None: on when the backbone's tokenizer lowercases
    candidate_threshold: float | None = 0.2  # stage-1 over-proposal for training candidates and inference; None: arg-max
    tune_candidate_threshold: bool = True  # choose the inference proposal threshold on the validation split
    max_objects: int = 15
    grounding_weight: float = 0.0
    max_prompt_length: int = 256
    max_context_words: int | None = 40  # words of a long input one stage-2 prompt holds (the sentences around the candidate); None: all
    # stage 1 learns the entity types too and screens: a candidate whose type stage 1 gives at least the screening
    # threshold (chosen on the validation split) keeps it, stage 2 types the rest: faster inference
    stage1_screening: bool = False
    stages: str = "both"
    resume: bool = True
    stage1: dict = field(default_factory=dict)  # TrainingArguments fields (and max_train_samples / max_eval_samples)
    stage2: dict = field(default_factory=dict)
    non_entity_folds: int = 4
    fold_epochs: float | None = None
    knowledge: KnowledgeSettings = field(default_factory=KnowledgeSettings)
    distillation: DistillationSettings = field(default_factory=DistillationSettings)
    awp: AWPSettings | None = None
    select_best_on_dev: bool = True  # score each epoch on the validation split and keep the best (thresholds are tuned there either way)
    max_test_samples: int | None = None
    model_id: str | None = None
    push_to_hub: str | None = None

    def __post_init__(self) -> None:
        if not self.dataset:
            raise ValueError("a recipe needs 'dataset'")
        if not self.output_dir:
            raise ValueError("a recipe needs 'output_dir'")
        if self.word_shapes is not None and not isinstance(self.word_shapes, bool):
            raise ValueError(f"word_shapes must be true, false or null (from the tokenizer) (stage 1; stage-2 word shapes were removed in scanner-hf 0.2), not {self.word_shapes!r}")
        if self.max_context_words is not None and (type(self.max_context_words) is not int or self.max_context_words < 1):
            raise ValueError(f"max_context_words must be a positive number of words or None, not {self.max_context_words!r}")
        if self.stage1_screening and self.grounding_weight > 0:
            raise ValueError("stage1_screening takes no grounding (grounding_weight 0): stage 1's types come without boxes")
        self.training_arguments()  # every stage field and value is checked now, before any data is read

    def stage_arguments(self, stage: str) -> StageTrainingArguments:
        values = dict(getattr(self, stage) or {})
        values.setdefault("seed", self.seed)
        return stage_training_arguments(str(Path(self.output_dir) / "checkpoints" / stage), select_best_on_dev=self.select_best_on_dev, **values)

    def training_arguments(self) -> ScannerTrainingArguments:
        return ScannerTrainingArguments(
            output_dir=self.output_dir, stage1=self.stage_arguments("stage1"), stage2=self.stage_arguments("stage2"),
            stages=self.stages, resume=self.resume, non_entity_folds=self.non_entity_folds, fold_epochs=self.fold_epochs,
            tune_candidate_threshold=self.tune_candidate_threshold, knowledge=self.knowledge, distillation=self.distillation,
            awp=self.awp, max_test_samples=self.max_test_samples, model_id=self.model_id, push_to_hub=self.push_to_hub,
        )

    def model_settings(self) -> dict[str, Any]:
        return {key: getattr(self, key) for key in MODEL_KEYS}


STAGE_FIELDS = {f.name: f for f in dataclasses.fields(StageTrainingArguments)}
_SECTIONS: dict[str, type] = {
    "knowledge": KnowledgeSettings,
    "distillation": DistillationSettings,
    "awp": AWPSettings,
}
_NUMBER_TYPES = {"float": float, "int": int}


def _check_keys(values: dict[str, Any], allowed: dict, where: str, unknown_message: Callable[[list[str]], str]) -> None:
    """Keys of 0.1 say what they became, removed keys why; other unknown keys fail with ``unknown_message``."""
    renamed = {name: RENAMED[name] for name in values if name in RENAMED and RENAMED[name] in allowed}
    if renamed:
        raise RecipeError(f"{where}: renamed keys: {', '.join(f'{old} is now {new}' for old, new in renamed.items())}")
    removed = sorted(name for name in values if name in REMOVED_KEYS and name not in allowed)
    if removed:
        raise RecipeError(f"{where}: {removed}: {REMOVED_KEYS[removed[0]]}")
    unknown = sorted(set(values) - set(allowed))
    if unknown:
        raise RecipeError(f"{where}: {unknown_message(unknown)}")


def _build(cls: type, values: dict[str, Any], where: str):
    """Instantiate a recipe dataclass, rejecting unknown keys and coercing numbers (YAML reads
    ``5e-5`` as a string)."""
    fields = {f.name: f for f in dataclasses.fields(cls)}
    _check_keys(values, fields, where, lambda unknown: f"unknown keys {unknown}; allowed: {sorted(fields)}")
    kwargs = {}
    for name, value in values.items():
        if name in _SECTIONS:
            value = _build(_SECTIONS[name], value or {}, f"{where}.{name}")
        elif name in ("stage1", "stage2"):
            value = _stage_section(value or {}, f"{where}.{name}")
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


def _stage_section(values: dict[str, Any], where: str) -> dict[str, Any]:
    """A stage section: TrainingArguments fields (plus max_train_samples / max_eval_samples), numbers coerced."""
    if not isinstance(values, dict):
        raise RecipeError(f"{where}: expected a mapping of TrainingArguments fields, got {values!r}")
    _check_keys(values, STAGE_FIELDS, where, lambda unknown: f"{unknown} are not TrainingArguments fields (see transformers.TrainingArguments)")
    section = {}
    for name, value in values.items():
        default = STAGE_FIELDS[name].default
        if isinstance(value, str) and isinstance(default, (int, float)) and not isinstance(default, bool):
            try:  # YAML reads 5e-5 as a string
                value = int(value) if value.lstrip("-").isdigit() else float(value)
            except ValueError:
                raise RecipeError(f"{where}.{name}: expected a number, got {value!r}") from None
        section[name] = value
    return section


def merge_into(values: dict, overrides: dict) -> None:
    """``--set`` overrides merged key by key: ``stage2.num_train_epochs=1`` keeps stage 2's other fields."""
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(values.get(key), dict):
            merge_into(values[key], value)
        else:
            values[key] = value


def load_recipe(path: str | Path, overrides: dict[str, Any] | None = None) -> Recipe:
    """Read and validate a recipe YAML; unknown keys, unknown datasets and missing data fail here."""
    with open(path, encoding="utf-8") as handle:
        values = yaml.safe_load(handle) or {}
    if not isinstance(values, dict):
        raise RecipeError(f"{path}: expected a mapping at the top level")
    merge_into(values, overrides or {})
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
    """The :class:`ScannerTrainer` a recipe describes: its data loaded, the model built from the backbone
    for the training split's entity types (``from_encoder``), each stage's TrainingArguments."""
    splits = load_ner_dataset(recipe.dataset, data_dir=recipe.data_dir, seed=recipe.seed, **(recipe.dataset_options or {}))
    if "test" not in splits:
        raise RecipeError(f"dataset {recipe.dataset!r} has no test split: the recipe scores the model on it and writes its card")
    set_seed(recipe.seed)  # the new heads' initial weights
    model = ScannerForMultimodalNER.from_encoder(recipe.backbone, entity_types=entity_types_of(splits["train"]), **recipe.model_settings())
    return ScannerTrainer(
        model, recipe.training_arguments(), splits["train"], splits.get("validation"),
        splits["test"], providers=knowledge_providers(recipe.knowledge, recipe, splits), dataset_name=recipe.dataset,
    )


def run_recipe(recipe: Recipe) -> dict[str, dict]:
    """Train and score everything a recipe describes (see :meth:`ScannerTrainer.train`)."""
    return recipe_trainer(recipe).train()
