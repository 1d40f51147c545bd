"""Readers for the SCANNER benchmarks, returning ``datasets.DatasetDict``.

All readers share one CoNLL-style line reader; the dataset-specific parts are the tag scheme (IOB1 in
CoNLL-2003), the label renaming (``MISC`` -> ``OTHER`` for the Twitter sets), and, for Twitter-GMNER,
the Pascal-VOC box files. Every repair or mismatch is counted in a :class:`ReadReport` and logged;
malformed input raises :class:`DataFormatError` naming the file and line.

>>> from scanner_hf.data import load_benchmark
>>> splits = load_benchmark("twitter2017")            # reads ../shared/data/twitter2017
>>> splits["train"].features["ner_tags"].feature.names[:3]
['O', 'B-LOC', 'I-LOC']
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from xml.etree import ElementTree

import datasets

from ..tags import (
    OUTSIDE,
    TAG_SCHEMES,
    TWITTER_LABEL_MAP,
    bio_label_list,
    bioes_to_iob2,
    detect_tag_scheme,
    iob1_to_iob2,
    rename_labels,
    repair_stray_inside,
    split_tag,
    tags_to_spans,
)

logger = logging.getLogger(__name__)

DATA_DIR_ENV = "SCANNER_HF_DATA_DIR"
DOCSTART = "-DOCSTART-"
IMAGE_ID_PREFIX = "IMGID:"


class DataFormatError(ValueError):
    """A data file does not have the format its reader expects."""


@dataclass
class ReadReport:
    """What a reader saw and repaired in one file; logged after reading, returned on request."""

    path: str
    tag_scheme: str = "iob2"
    sentences: int = 0
    tokens: int = 0
    entities: int = 0
    docstart_dropped: int = 0
    stray_inside_repaired: int = 0
    boxes: int = 0
    groundable_entities: int = 0
    unmatched_box_names: list[tuple[str, str]] = field(default_factory=list)  # one (image id, name) per box

    def log(self) -> None:
        logger.info(
            "%s: %d sentences, %d tokens, %d entities", self.path, self.sentences, self.tokens, self.entities
        )
        if self.stray_inside_repaired:
            logger.warning(
                "%s: %d stray I- tags (after O or another type) repaired to B-",
                self.path,
                self.stray_inside_repaired,
            )
        if self.unmatched_box_names:
            logger.warning(
                "%s: %d box names match no entity of their tweet (kept out of the targets): %s",
                self.path,
                len(self.unmatched_box_names),
                self.unmatched_box_names[:5],
            )


@dataclass(frozen=True)
class BenchmarkSpec:
    """Where a benchmark lives under the data folder and how to read it."""

    folder: str
    split_files: Mapping[str, str]
    entity_types: tuple[str, ...]  # as named in the files
    tag_scheme: str = "iob2"  # "iob1" for CoNLL-2003
    label_map: Mapping[str, str] | None = None
    xml_folder: str | None = None  # Twitter-GMNER box annotations


BENCHMARKS: dict[str, BenchmarkSpec] = {
    "conll2003": BenchmarkSpec(
        folder="conll2003",
        split_files={"train": "eng.train", "validation": "eng.testa", "test": "eng.testb"},
        entity_types=("LOC", "MISC", "ORG", "PER"),
        tag_scheme="iob1",
    ),
    "twitter2015": BenchmarkSpec(
        folder="twitter2015",
        split_files={"train": "train.txt", "validation": "valid.txt", "test": "test.txt"},
        entity_types=("LOC", "ORG", "OTHER", "PER"),
        label_map=TWITTER_LABEL_MAP,
    ),
    "twitter2017": BenchmarkSpec(
        folder="twitter2017",
        split_files={"train": "train.txt", "validation": "valid.txt", "test": "test.txt"},
        entity_types=("LOC", "MISC", "ORG", "PER"),
        label_map=TWITTER_LABEL_MAP,
    ),
    "twitter_gmner": BenchmarkSpec(
        folder="twitter_gmner/Twitter10000/txt",
        split_files={"train": "train.txt", "validation": "dev.txt", "test": "test.txt"},
        entity_types=("LOC", "ORG", "OTHER", "PER"),
        label_map=TWITTER_LABEL_MAP,
        xml_folder="twitter_gmner/Twitter10000/xml",
    ),
    "twitter_gmner_v2": BenchmarkSpec(
        folder="twitter_gmner/Twitter10000_v2.0/txt",
        split_files={"train": "train.txt", "validation": "dev.txt", "test": "test.txt"},
        entity_types=("LOC", "ORG", "OTHER", "PER"),
        label_map=TWITTER_LABEL_MAP,
        xml_folder="twitter_gmner/Twitter10000_v2.0/xml",
    ),
}


def default_data_dir() -> Path:
    """``$SCANNER_HF_DATA_DIR`` if set; else ``../shared/data`` seen from the working directory or,
    failing that, from the checkout this package was installed from (so scripts run from ``benchmarks/``
    find it too)."""
    if DATA_DIR_ENV in os.environ:
        return Path(os.environ[DATA_DIR_ENV])
    candidates = [Path.cwd().parent / "shared" / "data", Path(__file__).resolve().parents[3] / "shared" / "data"]
    return next((candidate for candidate in candidates if candidate.is_dir()), candidates[0])


def read_conll_file(
    path: str | Path,
    *,
    tag_scheme: str = "iob2",
    label_map: Mapping[str, str] | None = None,
    entity_types: Sequence[str] | None = None,
) -> tuple[list[dict], ReadReport]:
    """Read a CoNLL-style file: optional ``IMGID:<id>`` line, one ``token ... tag`` per line, blank
    line between sentences. Token is the first column and the tag the last (tab- or space-separated).

    ``-DOCSTART-`` lines are dropped wherever they stand. ``tag_scheme`` is ``iob1``, ``iob2``,
    ``bioes`` (BILOU too) or ``auto`` (detected from the file, logged). Tags come back as clean IOB2.
    Returns the sentences (``tokens``, ``tags``, ``image_id``) and a :class:`ReadReport`.
    """
    if tag_scheme not in (*TAG_SCHEMES, "auto"):
        raise ValueError(f"unknown tag scheme {tag_scheme!r}: use one of {TAG_SCHEMES} or 'auto'")
    path = Path(path)
    report = ReadReport(path=str(path))
    raw: list[tuple[list[str], list[str], str | None]] = []
    tokens: list[str] = []
    tags: list[str] = []
    image_id: str | None = None
    first_line = 0

    def flush() -> None:
        nonlocal tokens, tags, image_id
        if tokens:
            raw.append((tokens, tags, image_id))
        elif image_id is not None:
            raise DataFormatError(f"{path}:{first_line}: image id {image_id!r} has no tokens")
        tokens, tags, image_id = [], [], None

    with open(path, encoding="utf-8") as handle:
        for line_number, raw_line in enumerate(handle, start=1):
            line = raw_line.rstrip("\r\n")
            if not line.strip():
                flush()
                continue
            if line.startswith(IMAGE_ID_PREFIX):
                flush()
                image_id = line[len(IMAGE_ID_PREFIX) :].strip()
                first_line = line_number
                if not image_id:
                    raise DataFormatError(f"{path}:{line_number}: empty image id")
                continue
            columns = line.split("\t") if "\t" in line else line.split(" ")
            if columns[0] == DOCSTART:
                report.docstart_dropped += 1
                continue
            if len(columns) < 2 or not columns[0] or not columns[-1]:
                raise DataFormatError(f"{path}:{line_number}: expected 'token<TAB>tag', got {line!r}")
            try:
                split_tag(columns[-1], bioes=tag_scheme in ("bioes", "auto"))
            except ValueError as error:
                raise DataFormatError(f"{path}:{line_number}: {error}") from None
            if not tokens and image_id is None:
                first_line = line_number
            tokens.append(columns[0])
            tags.append(columns[-1])
    flush()
    if tag_scheme == "auto":
        tag_scheme = detect_tag_scheme([tags for _, tags, _ in raw])
        logger.info("%s: tag scheme detected as %s", path, tag_scheme.upper())
    report.tag_scheme = tag_scheme
    sentences = [_finish_sentence(tokens, tags, image_id, report, tag_scheme, label_map) for tokens, tags, image_id in raw]
    if entity_types is not None:
        unknown = {span_label for sentence in sentences for span_label in _types(sentence["tags"])} - set(entity_types)
        if unknown:
            raise DataFormatError(f"{path}: unknown entity types {sorted(unknown)}; expected {sorted(entity_types)}")
    return sentences, report


def _types(tags: Sequence[str]) -> set[str]:
    return {label for _, label in map(split_tag, tags) if label is not None}


def _finish_sentence(
    tokens: list[str],
    tags: list[str],
    image_id: str | None,
    report: ReadReport,
    tag_scheme: str,
    label_map: Mapping[str, str] | None,
) -> dict:
    if tag_scheme == "iob1":
        clean = iob1_to_iob2(tags)
    elif tag_scheme in ("iob2", "bioes"):
        clean, repaired = repair_stray_inside(bioes_to_iob2(tags) if tag_scheme == "bioes" else tags)
        report.stray_inside_repaired += repaired
    else:
        raise ValueError(f"unknown tag scheme {tag_scheme!r}: use one of {TAG_SCHEMES}")
    clean = rename_labels(clean, label_map)
    report.sentences += 1
    report.tokens += len(tokens)
    report.entities += len(tags_to_spans(clean))
    return {"tokens": list(tokens), "tags": clean, "image_id": image_id}


def read_voc_boxes(path: str | Path) -> tuple[tuple[int, int] | None, list[tuple[str, list[float]]]]:
    """Read a Pascal-VOC xml: image ``(width, height)`` and ``(name, [x1, y1, x2, y2])`` per object."""
    try:
        root = ElementTree.parse(path).getroot()
    except ElementTree.ParseError as error:
        raise DataFormatError(f"{path}: not valid xml ({error})") from None
    size = None
    size_node = root.find("size")
    if size_node is not None:
        size = (int(float(size_node.findtext("width", "0"))), int(float(size_node.findtext("height", "0"))))
    objects = []
    for index, node in enumerate(root.findall("object")):
        name = (node.findtext("name") or "").strip()
        box = node.find("bndbox")
        if not name or box is None:
            raise DataFormatError(f"{path}: object {index} lacks <name> or <bndbox>")
        try:
            coords = [float(box.findtext(key)) for key in ("xmin", "ymin", "xmax", "ymax")]  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise DataFormatError(f"{path}: object {index} ({name!r}) has a malformed <bndbox>") from None
        objects.append((name, coords))
    return size, objects


def attach_boxes(sentence: dict, xml_dir: Path, report: ReadReport) -> dict:
    """Add ``entities`` (span, type, text, gold boxes) and the image size from ``<image_id>.xml``.

    A box belongs to every mention whose surface string (tokens joined by one space) equals its
    ``<name>``; an entity with no box is ungroundable. Names that match no entity are counted.
    """
    spans = tags_to_spans(sentence["tags"])
    texts = [" ".join(sentence["tokens"][span.start : span.end]) for span in spans]
    xml_path = xml_dir / f"{sentence['image_id']}.xml"
    size, objects = read_voc_boxes(xml_path) if xml_path.exists() else (None, [])
    boxes_by_name: dict[str, list[list[float]]] = {}
    for name, box in objects:
        boxes_by_name.setdefault(name, []).append(box)
    report.boxes += len(objects)
    report.unmatched_box_names += [(sentence["image_id"], name) for name, _ in objects if name not in texts]
    entities = []
    for span, text in zip(spans, texts):
        boxes = boxes_by_name.get(text, [])
        report.groundable_entities += bool(boxes)
        entities.append({"start": span.start, "end": span.end, "label": span.label, "text": text, "boxes": boxes})
    return {
        **sentence,
        "entities": entities,
        "image_width": size[0] if size else None,
        "image_height": size[1] if size else None,
    }


def ner_features(label_names: list[str], with_boxes: bool) -> datasets.Features:
    features = {
        "id": datasets.Value("string"),
        "tokens": datasets.Sequence(datasets.Value("string")),
        "ner_tags": datasets.Sequence(datasets.ClassLabel(names=label_names)),
        "image_id": datasets.Value("string"),
    }
    if with_boxes:
        features["entities"] = datasets.List(
            {
                "start": datasets.Value("int32"),
                "end": datasets.Value("int32"),
                "label": datasets.Value("string"),
                "text": datasets.Value("string"),
                "boxes": datasets.List(datasets.List(datasets.Value("float32"), length=4)),
            }
        )
        features["image_width"] = datasets.Value("int32")
        features["image_height"] = datasets.Value("int32")
    return datasets.Features(features)


def load_benchmark(
    name: str,
    data_dir: str | Path | None = None,
    *,
    label_map: Mapping[str, str] | None | str = "default",
    return_reports: bool = False,
) -> datasets.DatasetDict | tuple[datasets.DatasetDict, dict[str, ReadReport]]:
    """Load one of :data:`BENCHMARKS` as a ``DatasetDict`` with ``train``/``validation``/``test``.

    Args:
        name: ``conll2003``, ``twitter2015``, ``twitter2017``, ``twitter_gmner`` (v1, the paper's
            release) or ``twitter_gmner_v2``.
        data_dir: the folder holding the benchmark folders; default :func:`default_data_dir`.
        label_map: entity-type renaming; ``"default"`` uses the benchmark's (``MISC`` -> ``OTHER``
            for the Twitter sets), ``None`` keeps the file's names.
        return_reports: also return the :class:`ReadReport` of each split.
    """
    if name not in BENCHMARKS:
        raise KeyError(f"unknown benchmark {name!r}; choose from {sorted(BENCHMARKS)}")
    spec = BENCHMARKS[name]
    root = Path(data_dir) if data_dir is not None else default_data_dir()
    folder = root / spec.folder
    if not folder.is_dir():
        raise FileNotFoundError(f"benchmark folder {folder} not found (set {DATA_DIR_ENV} or pass data_dir)")
    mapping = spec.label_map if label_map == "default" else label_map
    entity_types = sorted({(mapping or {}).get(t, t) for t in spec.entity_types})
    label_names = bio_label_list(entity_types)
    splits, reports = {}, {}
    for split, file_name in spec.split_files.items():
        sentences, report = read_conll_file(
            folder / file_name, tag_scheme=spec.tag_scheme, label_map=mapping, entity_types=entity_types
        )
        if spec.xml_folder is not None:
            sentences = [attach_boxes(sentence, root / spec.xml_folder, report) for sentence in sentences]
        report.log()
        rows = [_to_row(sentence, index, label_names) for index, sentence in enumerate(sentences)]
        splits[split] = datasets.Dataset.from_list(rows, features=ner_features(label_names, spec.xml_folder is not None))
        reports[split] = report
    dataset_dict = datasets.DatasetDict(splits)
    return (dataset_dict, reports) if return_reports else dataset_dict


def _to_row(sentence: dict, index: int, label_names: list[str]) -> dict:
    label_ids = {label: position for position, label in enumerate(label_names)}
    row = {key: value for key, value in sentence.items() if key != "tags"}
    row["id"] = str(index)
    row["ner_tags"] = [label_ids[tag] for tag in sentence["tags"]]
    return row


def entity_strings(dataset: datasets.Dataset) -> set[str]:
    """Surface strings (tokens joined by one space) of all entities in a split: the "seen" set."""
    names = dataset.features["ner_tags"].feature.names
    strings = set()
    for tokens, tag_ids in zip(dataset["tokens"], dataset["ner_tags"]):
        tags = [names[tag_id] for tag_id in tag_ids]
        strings.update(" ".join(tokens[span.start : span.end]) for span in tags_to_spans(tags))
    return strings


def entity_types_of(dataset: datasets.Dataset) -> list[str]:
    """The entity types of a split's IOB2 ``ner_tags`` label set, sorted."""
    names = dataset.features["ner_tags"].feature.names
    return sorted({split_tag(name)[1] for name in names if name != OUTSIDE})
