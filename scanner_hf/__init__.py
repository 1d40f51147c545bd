"""scanner-hf: SCANNER (Ok et al., 2024) for NER, MNER and GMNER on HuggingFace transformers.

Importing the package registers its configs and models with the Auto classes.
"""

from transformers import AutoConfig, AutoModel

from .configuration import ScannerSpanDetectorConfig
from .modeling_span_detector import DetectedSpan, ScannerSpanDetector, ScannerSpanDetectorOutput

__version__ = "0.1.0"

AutoConfig.register(ScannerSpanDetectorConfig.model_type, ScannerSpanDetectorConfig)
AutoModel.register(ScannerSpanDetectorConfig, ScannerSpanDetector)
ScannerSpanDetectorConfig.register_for_auto_class()
ScannerSpanDetector.register_for_auto_class("AutoModel")

__all__ = [
    "DetectedSpan",
    "ScannerSpanDetector",
    "ScannerSpanDetectorConfig",
    "ScannerSpanDetectorOutput",
]
