"""LLM knowledge per tweet (the paper's Appendix C): PGIM's ChatGPT answers for Twitter-2015/2017 and
RiVEG's for Twitter-GMNER.

The files repeat each tweet as ``token<TAB>tag`` lines, then ``<EOS><TAB>X`` and the answer one word
per line (tagged ``X``); they carry no image id, so samples are aligned to a dataset split by
position, and the alignment is checked token by token (a mismatch is an error naming the sample).
PGIM's Twitter-2015 files lack the last tweet of each split; that one sample gets no knowledge, and
this is logged.

>>> texts = read_llm_knowledge("pgim/twitter2015/train.txt", load_benchmark("twitter2015")["train"])  # doctest: +SKIP
>>> provider = LLMKnowledge(texts)                                                                     # doctest: +SKIP
"""

from __future__ import annotations

import logging
from pathlib import Path

import datasets

from ..providers import Knowledge, KnowledgeProvider, KnowledgeRequest

logger = logging.getLogger(__name__)

END_OF_SENTENCE = "<EOS>"


class KnowledgeAlignmentError(ValueError):
    """An LLM-knowledge file does not line up with the dataset split it is meant for."""


def read_llm_samples(path: str | Path) -> list[tuple[list[str], str]]:
    """``(tweet tokens, knowledge text)`` per sample of a PGIM/RiVEG file."""
    samples: list[tuple[list[str], str]] = []
    tokens: list[str] = []
    answer: list[str] = []
    in_answer = False
    with open(path, encoding="utf-8") as handle:
        for line_number, raw in enumerate(handle, start=1):
            line = raw.rstrip("\r\n")
            if not line.strip():
                if tokens:
                    samples.append((tokens, " ".join(answer)))
                tokens, answer, in_answer = [], [], False
                continue
            word, _, _ = line.rpartition("\t")
            if not word and in_answer:
                continue  # RiVEG's answers hold a few empty words: nothing to keep
            if not word:
                raise KnowledgeAlignmentError(f"{path}:{line_number}: expected 'word<TAB>tag', got {line!r}")
            if word == END_OF_SENTENCE:
                in_answer = True
            elif in_answer:
                answer.append(word)
            else:
                tokens.append(word)
    if tokens:
        samples.append((tokens, " ".join(answer)))
    return samples


def read_llm_knowledge(path: str | Path, split: datasets.Dataset) -> dict[str, str]:
    """Knowledge text per image id of ``split``, aligned by position and verified token by token.

    One missing trailing sample (PGIM's Twitter-2015) is allowed and logged; any other difference in
    count or tokens raises :class:`KnowledgeAlignmentError`.
    """
    samples = read_llm_samples(path)
    tokens, image_ids = split["tokens"], split["image_id"]
    if len(samples) not in (len(split), len(split) - 1):
        raise KnowledgeAlignmentError(f"{path}: {len(samples)} samples for a split of {len(split)} tweets")
    for index, (sample_tokens, _) in enumerate(samples):
        if sample_tokens != tokens[index]:
            raise KnowledgeAlignmentError(
                f"{path}: sample {index} does not match tweet {image_ids[index]!r}: "
                f"{' '.join(sample_tokens)[:80]!r} vs {' '.join(tokens[index])[:80]!r}"
            )
    if len(samples) < len(split):
        logger.warning("%s: no knowledge for the last tweet (%s); it goes without", path, image_ids[-1])
    return {image_ids[index]: text for index, (_, text) in enumerate(samples) if text}


class LLMKnowledge(KnowledgeProvider):
    """The LLM knowledge of the request's tweet, looked up by image id."""

    def __init__(self, texts_by_image: dict[str, str]):
        self.texts_by_image = texts_by_image

    def provide(self, request: KnowledgeRequest) -> Knowledge:
        return Knowledge(llm=self.texts_by_image.get(request.image_id)) if request.image_id else Knowledge()


#: Where each benchmark's LLM knowledge lives under the data folder, per split.
LLM_KNOWLEDGE_FILES: dict[str, tuple[str, dict[str, str]]] = {
    "twitter2015": ("knowledge/pgim/twitter2015", {"train": "train.txt", "validation": "valid.txt", "test": "test.txt"}),
    "twitter2017": ("knowledge/pgim/twitter2017", {"train": "train.txt", "validation": "valid.txt", "test": "test.txt"}),
    "twitter_gmner": ("knowledge/riveg_gmner/gpt_knowledge", {"train": "train.txt", "validation": "valid.txt", "test": "test.txt"}),
    "twitter_gmner_v2": ("knowledge/riveg_gmner/gpt_knowledge", {"train": "train.txt", "validation": "valid.txt", "test": "test.txt"}),
}


def benchmark_llm_knowledge(name: str, splits: datasets.DatasetDict, data_dir: str | Path) -> LLMKnowledge:
    """The LLM knowledge of every split of a benchmark as one provider (image ids are unique)."""
    if name not in LLM_KNOWLEDGE_FILES:
        raise KeyError(f"no LLM knowledge is known for {name!r}; known: {sorted(LLM_KNOWLEDGE_FILES)}")
    folder, files = LLM_KNOWLEDGE_FILES[name]
    texts: dict[str, str] = {}
    for split, file_name in files.items():
        texts.update(read_llm_knowledge(Path(data_dir) / folder / file_name, splits[split]))
    return LLMKnowledge(texts)
