"""scanner-hf: SCANNER (Ok et al., 2024) for NER, MNER and GMNER on HuggingFace transformers.

Importing the package registers its configs and models with the Auto classes.
"""

from transformers import AutoConfig, AutoModel, AutoProcessor
from transformers.pipelines import PIPELINE_REGISTRY

from .configuration import (
    ScannerConfig,
    ScannerEntityRecognizerConfig,
    ScannerSpanDetectorConfig,
)
from .modeling_entity_recognizer import (
    ScannerEntityRecognizer,
    ScannerEntityRecognizerOutput,
)
from .modeling_scanner import ScannerForMultimodalNER, ScannerOutput
from .modeling_span_detector import (
    DetectedSpan,
    ScannerSpanDetector,
    ScannerSpanDetectorOutput,
)
from .pipeline import ScannerNERPipeline
from .processing_scanner import ScannerProcessor

__version__ = "0.2.0"

for _config_class, _model_class in (
    (ScannerSpanDetectorConfig, ScannerSpanDetector),
    (ScannerEntityRecognizerConfig, ScannerEntityRecognizer),
    (ScannerConfig, ScannerForMultimodalNER),
):
    AutoConfig.register(_config_class.model_type, _config_class)
    AutoModel.register(_config_class, _model_class)
    _config_class.register_for_auto_class()
    _model_class.register_for_auto_class("AutoModel")

AutoProcessor.register(ScannerConfig, ScannerProcessor)
ScannerProcessor.register_for_auto_class()

# No default checkpoint yet: pipeline("scanner-ner") needs model=<Hub id or folder>.
PIPELINE_REGISTRY.register_pipeline("scanner-ner", pipeline_class=ScannerNERPipeline, pt_model=AutoModel, type="multimodal")

_TRAINING_NAMES = {
    "ScannerTrainer": "training.trainer", "ScannerTrainingArguments": "training.arguments",
    "KnowledgeSettings": "training.arguments", "DistillationSettings": "training.arguments",
    "StageTrainingArguments": "training.stages", "stage_training_arguments": "training.stages",
}


def __getattr__(name: str):
    """The training API loads on first use, so ``import scanner_hf`` for inference stays light."""
    if name in _TRAINING_NAMES:
        import importlib

        return getattr(importlib.import_module(f".{_TRAINING_NAMES[name]}", __name__), name)
    raise AttributeError(f"module 'scanner_hf' has no attribute {name!r}")


__all__ = [
    "DetectedSpan",
    "DistillationSettings",
    "KnowledgeSettings",
    "ScannerConfig",
    "ScannerEntityRecognizer",
    "ScannerEntityRecognizerConfig",
    "ScannerEntityRecognizerOutput",
    "ScannerForMultimodalNER",
    "ScannerNERPipeline",
    "ScannerOutput",
    "ScannerProcessor",
    "ScannerSpanDetector",
    "ScannerSpanDetectorConfig",
    "ScannerSpanDetectorOutput",
    "ScannerTrainer",
    "ScannerTrainingArguments",
    "StageTrainingArguments",
    "stage_training_arguments",
]
