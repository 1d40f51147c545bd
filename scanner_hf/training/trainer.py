"""``ScannerTrainer``: SCANNER training end to end on any ``datasets.Dataset`` for a model built first
(the shape of setfit's ``AbsaTrainer`` and SpanMarker's ``Trainer``). Recipes, ``scanner-ner train``
and the benchmarks all use it.

>>> from scanner_hf import ScannerForMultimodalNER, ScannerTrainer, ScannerTrainingArguments   # doctest: +SKIP
>>> from scanner_hf.data import load_ner_dataset
>>> splits = load_ner_dataset("my_conll_folder")          # train.txt / dev.txt / test.txt, any BIO scheme
>>> model = ScannerForMultimodalNER.from_encoder("sentence-transformers/all-MiniLM-L6-v2", entity_types=["PER", "LOC", "ORG", "OTHER"])
>>> trainer = ScannerTrainer(model=model, args=ScannerTrainingArguments(output_dir="runs/mine"),
...                          train_dataset=splits["train"], eval_dataset=splits["validation"], test_dataset=splits["test"])
>>> scores = trainer.train()          # stage 1 -> non-entity folds -> stage 2 -> tuning -> test -> runs/mine/scanner
>>> model.save_pretrained("my-scanner")                   # or trainer.push_to_hub("me/scanner-mine"), with its card

Steps (each also callable alone): :meth:`ScannerTrainer.train_span_detector` (a plain teacher first
when Trust Your Teacher is on; AWP optional), :meth:`~ScannerTrainer.non_entity_spans` (cross-fold
stage-1 false positives as stage 2's ``non-entity`` examples), :meth:`~ScannerTrainer.train_entity_recognizer`
(teacher first when distilled), the tuning of the thresholds (written into ``model.config``),
:meth:`~ScannerTrainer.evaluate`, :meth:`~ScannerTrainer.save_model`. Every stage (teacher, student,
cross-fold detector) starts from the weights the model had when the trainer got it. Each step's result
is a folder under ``output_dir`` written atomically (a temporary folder, then a rename); with ``resume``
a complete folder is reloaded and an incomplete one retrained. Under ``accelerate launch`` every process
trains (the HF Trainer shards batches); files and uploads are written by the main process only.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import logging
import shutil
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import datasets
from transformers import PreTrainedTokenizerBase, TrainerCallback, TrainingArguments

from ..data import entity_types_of
from ..evaluation.two_stage import evaluate_detector, evaluate_model, tune_box_threshold, tune_candidate_threshold, tune_screening_threshold
from ..inference import Screening, detect_candidates
from ..knowledge import KnowledgeProvider
from ..knowledge.factory import kb_path, providers_from_settings
from ..knowledge.kb import EntityKB
from ..knowledge.kb_build import portable_source
from ..modeling_entity_recognizer import ScannerEntityRecognizer
from ..modeling_scanner import ScannerForMultimodalNER
from ..modeling_span_detector import ScannerSpanDetector
from ..pipeline import ScannerNERPipeline
from ..prompting import PromptBuilder
from .arguments import DistillationSettings, KnowledgeSettings, ScannerTrainingArguments
from .candidates import cross_fold_spans, spans_by_sentence, training_candidates
from .model_card import CardInfo, build_model_card, card_info, dataset_label, push_folder_to_hub
from .stages import Distillation, fit_entity_recognizer, fit_span_detector
from .step_folders import is_complete_step, on_main_process, save_step, select_first, stage_setting, write_json

__all__ = ["DistillationSettings", "KnowledgeSettings", "ScannerTrainer", "ScannerTrainingArguments"]

logger = logging.getLogger(__name__)


class ScannerTrainer:
    """Trains both stages of a :class:`ScannerForMultimodalNER` on labelled splits (``tokens`` +
    ``ner_tags``, as :func:`scanner_hf.data.load_ner_dataset` returns them); the trained stages and the
    tuned thresholds end up in ``model`` and its config.

    Args:
        model: the composite to train, e.g. ``ScannerForMultimodalNER.from_encoder(backbone, entity_types)``;
            it needs ``model.tokenizer``.
        args: :class:`ScannerTrainingArguments` (each stage's ``TrainingArguments`` inside).
        train_dataset / eval_dataset / test_dataset: the splits; the validation split chooses each
            stage's best epoch (when its ``eval_strategy`` says so) and the tuned thresholds; the test
            split is scored.
        providers: stage 2's knowledge providers; default: built from ``args.knowledge``.
        callbacks: ``TrainerCallback`` s given to every stage's Trainer (logging, early stopping, ...).
        dataset_name: what the model card names as the training data.
    """

    def __init__(
        self,
        model: ScannerForMultimodalNER,
        args: ScannerTrainingArguments,
        train_dataset: datasets.Dataset,
        eval_dataset: datasets.Dataset | None = None,
        test_dataset: datasets.Dataset | None = None,
        *,
        providers: Sequence[KnowledgeProvider] | None = None,
        callbacks: Sequence[TrainerCallback] | None = None,
        dataset_name: str | None = None,
    ):
        if not isinstance(model, ScannerForMultimodalNER):
            raise TypeError(f"model must be a ScannerForMultimodalNER (e.g. from_encoder), not {type(model).__name__}")
        if not isinstance(args, ScannerTrainingArguments):
            raise TypeError(f"args must be ScannerTrainingArguments, not {type(args).__name__}")
        if model.tokenizer is None:
            raise ValueError("the model has no tokenizer (model.tokenizer): build it with from_encoder or load it with from_pretrained")
        for name, split in (("train", train_dataset), ("validation", eval_dataset), ("test", test_dataset)):
            if split is not None and not {"tokens", "ner_tags"} <= set(split.column_names):
                raise ValueError(f"the {name} split needs 'tokens' and 'ner_tags' columns, it has {split.column_names}")
        self.entity_types = list(model.config.entity_recognizer_config.entity_types)
        for name, split in (("train", train_dataset), ("validation", eval_dataset), ("test", test_dataset)):
            unknown = sorted(set(entity_types_of(split)) - set(self.entity_types)) if split is not None else []
            if unknown:
                raise ValueError(f"the {name} split has entity types {unknown} that the model does not know ({self.entity_types})")
        if args.knowledge.llm is True and providers is None:
            raise ValueError("knowledge.llm: true means a benchmark's LLM files: build them (recipes do) and pass providers")
        self.model, self.args = model, args
        self.processor = model.processor  # the tokenizer, stage 1's window and stage 2's prompt settings
        self.tokenizer: PreTrainedTokenizerBase = model.tokenizer
        self.dataset_name = dataset_name
        self.train_dataset, self.eval_dataset = train_dataset, eval_dataset
        self.test_dataset = select_first(test_dataset, args.max_test_samples)
        self.providers = list(providers) if providers is not None else self.providers_from_settings(args.knowledge)
        self.callbacks = list(callbacks or [])
        # every stage starts from the weights the model has now; the proposal threshold the model was built
        # with makes the cross-fold training candidates (tuning may change the inference one)
        self.initial_detector = copy.deepcopy(model.span_detector)
        self.initial_recognizer = copy.deepcopy(model.entity_recognizer)
        self.proposal_threshold = model.config.candidate_threshold
        self.detector_trained = self.recognizer_trained = False
        self.scores: dict[str, dict] = {}

    @staticmethod
    def providers_from_settings(settings: KnowledgeSettings) -> list[KnowledgeProvider]:
        values = {key: value for key, value in dataclasses.asdict(settings).items() if key != "llm" or isinstance(value, dict)}
        return providers_from_settings(values)

    @property
    def output_dir(self) -> Path:
        return Path(self.args.output_dir)

    # the trained parts, as the steps and the benchmarks use them
    @property
    def detector(self) -> ScannerSpanDetector | None:
        return self.model.span_detector if self.detector_trained else None

    @property
    def detector_tokenizer(self) -> PreTrainedTokenizerBase:
        return self.tokenizer

    @property
    def recognizer(self) -> ScannerEntityRecognizer | None:
        return self.model.entity_recognizer if self.recognizer_trained else None

    @property
    def builder(self) -> PromptBuilder | None:
        return self.processor.prompt_builder(self.model.entity_recognizer.config) if self.recognizer_trained else None

    @property
    def box_threshold(self) -> float:
        return self.model.config.box_threshold

    @property
    def candidate_threshold(self) -> float | None:
        return self.model.config.candidate_threshold

    @property
    def screening_threshold(self) -> float:
        return self.model.config.screening_threshold

    # -- step folders ------------------------------------------------------------------------

    def _complete(self, folder: Path) -> bool:
        """Whether ``folder`` holds a finished step to reload; an unfinished one is removed."""
        if not self.args.resume:
            return False
        if is_complete_step(folder):
            return True
        if folder.exists():
            logger.warning("%s holds no complete model (an interrupted run?): retraining this step", folder)
            on_main_process(lambda: shutil.rmtree(folder))
        return False

    def _save_step(self, model, processor, folder: Path) -> None:
        save_step(model, processor, folder)

    @staticmethod
    def _checkpoints(folder: Path) -> Path:
        """Where the HF Trainer keeps a step's epoch checkpoints (the best epoch's, when chosen on dev)."""
        return folder.parent / "checkpoints" / folder.name

    def _write_json(self, path: Path, value) -> None:
        write_json(path, value)

    def _stage_args(self, stage: str, folder: Path, **overrides) -> TrainingArguments:
        """The stage's TrainingArguments with its Trainer checkpoints under this step's folder."""
        return replace(getattr(self.args, stage), output_dir=str(self._checkpoints(folder)), **overrides)

    def _eval_split(self, args: TrainingArguments) -> datasets.Dataset | None:
        """The validation split a stage scores each evaluation on (none when its eval_strategy is "no")."""
        if self.eval_dataset is None or args.eval_strategy == "no":
            return None
        return select_first(self.eval_dataset, stage_setting(args, "max_eval_samples"))

    def _matching_vocabulary(self, detector: ScannerSpanDetector) -> ScannerSpanDetector:
        """Stage 1 reads the stage-2 tokenizer: grow a detector saved with the backbone's vocabulary."""
        if detector.config.encoder_config.vocab_size < len(self.tokenizer):
            detector.resize_token_embeddings(len(self.tokenizer), mean_resizing=False)
            detector.config.encoder_config.vocab_size = len(self.tokenizer)
        return detector

    # -- steps -------------------------------------------------------------------------------

    def train_span_detector(self, folder: Path | None = None, *, plain: bool = False) -> tuple[ScannerSpanDetector, PreTrainedTokenizerBase]:
        """Stage 1 in ``folder`` (default ``<output_dir>/stage1``); with distillation, its plain
        teacher first (``<folder>-teacher``). ``plain`` trains without distillation and AWP (and does
        not put the result into the model)."""
        folder = Path(folder) if folder else self.output_dir / "stage1"
        if self._complete(folder):
            logger.info("resuming: loading the stage-1 detector from %s", folder)
            detector = self._matching_vocabulary(ScannerSpanDetector.from_pretrained(folder).eval())
        else:
            distillation = None
            if self.args.distilled("stage1") and not plain:
                teacher, _ = self.train_span_detector(folder.with_name(folder.name + "-teacher"), plain=True)
                distillation = Distillation(teacher, self.args.distillation.mode, self.args.distillation.fixed_alpha)
            args = self._stage_args("stage1", folder)
            detector = fit_span_detector(
                copy.deepcopy(self.initial_detector), self.tokenizer, select_first(self.train_dataset, stage_setting(args, "max_train_samples")),
                args, max_length=self.processor.stage1_max_length, distillation=distillation, awp=None if plain else self.args.awp,
                eval_split=self._eval_split(args), callbacks=self.callbacks,
            )
            self._save_step(detector, self.processor, folder)
        if not plain:
            self.model.span_detector, self.detector_trained = detector, True
        return detector, self.tokenizer

    def non_entity_spans(self, cache: Path | None = None) -> list[list[tuple[int, int]]] | None:
        """Stage-1 spans on the training split from ``non_entity_folds`` cross-fold detectors, each
        trained without the fold it predicts (cached in ``<output_dir>/stage1_folds.json``)."""
        if self.args.non_entity_folds < 2:
            return None
        cache = Path(cache) if cache else self.output_dir / "stage1_folds.json"
        if self.args.resume and cache.is_file():
            logger.info("resuming: cross-fold spans from %s", cache)
            return [[tuple(span) for span in spans] for spans in json.loads(cache.read_text())]
        overrides = {"eval_strategy": "no", "save_strategy": "no", "load_best_model_at_end": False}
        if self.args.fold_epochs is not None:
            overrides["num_train_epochs"] = self.args.fold_epochs
        args = self._stage_args("stage1", cache.with_name("folds"), **overrides)
        train_split = select_first(self.train_dataset, stage_setting(self.args.stage2, "max_train_samples"))

        def train_and_predict(part, held_out):
            detector = fit_span_detector(copy.deepcopy(self.initial_detector), self.tokenizer, part, args,
                                         max_length=self.processor.stage1_max_length, callbacks=self.callbacks)
            found = detect_candidates(detector, self.tokenizer, held_out["tokens"], threshold=self.proposal_threshold)
            return spans_by_sentence(found, len(held_out))

        spans = cross_fold_spans(train_split, train_and_predict, folds=self.args.non_entity_folds, seed=self.args.stage1.seed)
        self._write_json(cache, spans)
        return spans

    def dev_candidates(self):
        """Validation candidates as at test time: gold entities plus this detector's false positives."""
        if self.eval_dataset is None or self.args.stage2.eval_strategy == "no":
            return None
        detector, tokenizer = self._stage1()
        dev = select_first(self.eval_dataset, stage_setting(self.args.stage2, "max_eval_samples"))
        found = detect_candidates(detector, tokenizer, dev["tokens"], threshold=self.proposal_threshold)
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
            recognizer = ScannerEntityRecognizer.from_pretrained(folder).eval()
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
            args = self._stage_args("stage2", folder)
            train_split = select_first(self.train_dataset, stage_setting(args, "max_train_samples"))
            recognizer = copy.deepcopy(self.initial_recognizer)
            recognizer = fit_entity_recognizer(
                recognizer, self.processor.prompt_builder(recognizer.config), train_split, training_candidates(train_split, fold_spans), args,
                providers=providers, distillation=distillation, eval_split=dev[0] if dev else None,
                eval_candidates=dev[1] if dev else None, callbacks=self.callbacks,
            )
            self._save_step(recognizer, self.processor, folder)
        if not plain:
            self.model.entity_recognizer, self.recognizer_trained = recognizer, True
        return recognizer, self.tokenizer, self.processor.prompt_builder(recognizer.config)

    def _stage1(self) -> tuple[ScannerSpanDetector, PreTrainedTokenizerBase]:
        if not self.detector_trained:
            self.train_span_detector()
        return self.model.span_detector, self.tokenizer

    def tune_box_threshold(self) -> float:
        """For grounding models with a validation split that has boxes: the best box threshold there
        (written into ``model.config.box_threshold``)."""
        grounding = self.model.config.entity_recognizer_config.grounding_weight > 0
        if grounding and self.eval_dataset is not None and "entities" in self.eval_dataset.column_names:
            detector, tokenizer = self._stage1()
            self.model.config.box_threshold = tune_box_threshold(
                detector, tokenizer, self.recognizer, self.builder, self.eval_dataset, self.providers,
            )
            logger.info("box threshold chosen on the validation split: %.2f", self.box_threshold)
        return self.box_threshold

    def tune_candidate_threshold(self) -> float | None:
        """With ``tune_candidate_threshold`` and a validation split: the proposal threshold with the best
        final F1 there (written into ``model.config.candidate_threshold``, which the checkpoint runs with)."""
        if self.args.tune_candidate_threshold and self.eval_dataset is not None:
            detector, tokenizer = self._stage1()
            self.model.config.candidate_threshold, tried = tune_candidate_threshold(
                detector, tokenizer, self.recognizer, self.builder, self.eval_dataset, self.providers,
                max_length=self.processor.stage1_max_length, box_threshold=self.box_threshold,
            )
            self.scores["candidate_threshold_dev_f1"] = {str(k): v for k, v in tried.items()}
            logger.info("candidate threshold chosen on the validation split: %s (dev F1 %s)", self.candidate_threshold, tried)
        return self.candidate_threshold

    def tune_screening_threshold(self) -> float:
        """With ``stage1_screening`` and a validation split: the screening threshold with the best F1 there,
        ties to the faster (see :func:`~.two_stage.tune_screening_threshold`; written into
        ``model.config.screening_threshold``)."""
        if self.screening() is None:
            return self.screening_threshold
        if self.eval_dataset is None:
            logger.warning("no validation split to choose the screening threshold: keeping %.2f", self.screening_threshold)
            return self.screening_threshold
        detector, tokenizer = self._stage1()
        self.model.config.screening_threshold, tried = tune_screening_threshold(
            detector, tokenizer, self.recognizer, self.builder, self.eval_dataset, self.providers,
            max_length=self.processor.stage1_max_length, candidate_threshold=self.candidate_threshold,
        )
        self.scores["screening_dev"] = tried
        logger.info("screening threshold chosen on the validation split: %.2f (%s)", self.screening_threshold, tried)
        return self.screening_threshold

    def screening(self, threshold: float | None = None) -> Screening | None:
        """How the trained system screens candidates: with ``stage1_screening`` by its typed stage 1 (None:
        it does not screen), at ``threshold`` (default: the chosen one)."""
        if not self.model.config.stage1_screening:
            return None
        return Screening(self.screening_threshold if threshold is None else threshold)

    def evaluate(
        self, dataset: datasets.Dataset | None = None, *, providers: Sequence[KnowledgeProvider] | None = None,
        screen: bool = True, screening_threshold: float | None = None,
    ) -> dict:
        """Both stages on a labelled split (default: the test split), run as the saved checkpoint
        will run (same knowledge, thresholds and stage-1 window); stage 1 alone when stage 2 is not
        trained. As with the pipeline, ``screen=False`` types every candidate with stage 2 alone and
        ``screening_threshold`` replaces the chosen one (0: the first pass alone)."""
        if screen and self.screening() is None and screening_threshold is not None:
            raise ValueError("screening_threshold is for a system that screens (stage1_screening)")
        dataset = dataset if dataset is not None else self.test_dataset
        if dataset is None:
            raise ValueError("no split to evaluate: pass one or give the trainer a test_dataset")
        detector, tokenizer = self._stage1()
        if self.recognizer is None:
            return evaluate_detector(detector, tokenizer, dataset, train_split=self.train_dataset)
        scores = evaluate_model(  # through model.predict: the path the saved checkpoint runs
            self.model.eval(), dataset, train_split=self.train_dataset, providers=self.providers if providers is None else providers,
            screen=screen, screening_threshold=screening_threshold,
        )
        scores["box_threshold"] = self.box_threshold
        scores["candidate_threshold"] = self.candidate_threshold
        return scores

    def train(self) -> dict[str, dict]:
        """Every step in order (``stages: stage1`` stops after stage 1); returns the test scores
        (``stage1`` and ``scanner``), also written under ``output_dir``, and saves the composite
        checkpoint with its model card to ``<output_dir>/scanner`` (pushed when ``push_to_hub``)."""
        detector, tokenizer = self.train_span_detector()
        if self.test_dataset is not None:
            self.scores["stage1"] = evaluate_detector(detector, tokenizer, self.test_dataset, train_split=self.train_dataset)
            self._write_json(self.output_dir / "stage1" / "test_scores.json", self.scores["stage1"])
        if self.args.stages == "stage1":
            return self.scores
        self.train_entity_recognizer()
        self.tune_box_threshold()
        self.tune_candidate_threshold()
        if self.model.config.stage1_screening:
            self.tune_screening_threshold()
        if self.test_dataset is not None:
            self.scores["scanner"] = self.evaluate()
            self._write_json(self.output_dir / "test_scores.json", self.scores["scanner"])
        self.save_model()
        if self.args.push_to_hub:
            self.push_to_hub(self.args.push_to_hub)
        return self.scores

    def portable_knowledge(self) -> dict | None:
        """The knowledge a checkpoint can name on any machine: live models, a live LLM, and the KB by the
        sources that built it (rebuilt or found elsewhere); precomputed files stay with this run."""
        portable = {
            key: value for key, value in dataclasses.asdict(self.args.knowledge).items()
            if key in ("captioner", "detector", "clip") and value or key == "llm" and isinstance(value, dict)
        }
        if self.args.knowledge.wikipedia:  # by name and content fingerprint, never this machine's paths
            portable["wikipedia"] = [portable_source(source) for source in EntityKB(kb_path(self.args.knowledge.wikipedia)).sources()]
        return portable or None

    def save_model(self, folder: str | Path | None = None, *, dataset_name: str | None = None) -> Path:
        """Write the composite checkpoint (weights, tokenizer, pipeline and model code for
        ``trust_remote_code``) and its model card, filled from the test scores, to ``folder``
        (default ``<output_dir>/scanner``)."""
        if not self.recognizer_trained:
            raise ValueError("stage 2 is not trained yet")
        folder = Path(folder) if folder else self.output_dir / "scanner"
        self._stage1()
        self.model.config.knowledge = self.portable_knowledge()
        card = build_model_card(self._card_info(dataset_name))

        def write() -> None:
            ScannerNERPipeline(model=self.model.eval(), tokenizer=self.tokenizer).save_pretrained(folder)  # with model.processor
            card.save(str(folder / "README.md"))

        on_main_process(write)
        logger.info("composite checkpoint and model card saved to %s", folder)
        return folder

    def _card_info(self, dataset_name: str | None) -> CardInfo:
        return card_info(self.model, self.args, dataset_label(dataset_name or self.dataset_name), self.scores.get("scanner", {}))

    def push_to_hub(self, repo_id: str, folder: str | Path | None = None) -> None:
        """Upload the saved composite checkpoint (weights, code, tokenizer, card) in one commit."""
        folder = Path(folder) if folder else self.output_dir / "scanner"
        if not (folder / "config.json").is_file():
            folder = self.save_model(folder)
        on_main_process(lambda: push_folder_to_hub(folder, repo_id))
