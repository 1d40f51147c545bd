"""scanner-hf: SCANNER (Ok et al., 2024) for NER, MNER and GMNER on HuggingFace transformers.

Importing the package registers its configs and models with the Auto classes.
"""

from transformers import AutoConfig, AutoModel

from .configuration import ScannerConfig, ScannerEntityRecognizerConfig, ScannerSpanDetectorConfig
from .modeling_entity_recognizer import ScannerEntityRecognizer, ScannerEntityRecognizerOutput
from .modeling_scanner import ScannerForMultimodalNER, ScannerOutput
from .modeling_span_detector import DetectedSpan, ScannerSpanDetector, ScannerSpanDetectorOutput

__version__ = "0.1.0"

for _config_class, _model_class in (
    (ScannerSpanDetectorConfig, ScannerSpanDetector),
    (ScannerEntityRecognizerConfig, ScannerEntityRecognizer),
    (ScannerConfig, ScannerForMultimodalNER),
):
    AutoConfig.register(_config_class.model_type, _config_class)
    AutoModel.register(_config_class, _model_class)
    _config_class.register_for_auto_class()
    _model_class.register_for_auto_class("AutoModel")

__all__ = [
    "DetectedSpan",
    "ScannerConfig",
    "ScannerForMultimodalNER",
    "ScannerOutput",
    "ScannerEntityRecognizer",
    "ScannerEntityRecognizerConfig",
    "ScannerEntityRecognizerOutput",
    "ScannerSpanDetector",
    "ScannerSpanDetectorConfig",
    "ScannerSpanDetectorOutput",
]
