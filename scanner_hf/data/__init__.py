"""Labelled NER data as ``datasets.DatasetDict``: the paper's benchmarks by name (:mod:`.benchmarks`)
and, through one loader, the user's own data (:mod:`.loading`)."""

from .benchmarks import (
    BENCHMARKS,
    DATA_DIR_ENV,
    BenchmarkSpec,
    DataFormatError,
    ReadReport,
    attach_boxes,
    default_data_dir,
    entity_strings,
    entity_types_of,
    load_benchmark,
    ner_features,
    read_conll_file,
    read_voc_boxes,
)
from .loading import load_ner_dataset

__all__ = [
    "BENCHMARKS",
    "DATA_DIR_ENV",
    "BenchmarkSpec",
    "DataFormatError",
    "ReadReport",
    "attach_boxes",
    "default_data_dir",
    "entity_strings",
    "entity_types_of",
    "load_benchmark",
    "load_ner_dataset",
    "ner_features",
    "read_conll_file",
    "read_voc_boxes",
]
