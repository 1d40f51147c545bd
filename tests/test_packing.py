"""Packed stage 2: the candidates of a text in one sequence, kept apart by the attention mask; the
same candidate scores the same whoever shares its sequence; training (with TYT's cached teacher
logits) and the trainer/pipeline path end to end."""

import pytest
import torch
from conftest import tiny_recognizer

import scanner_hf  # noqa: F401
from scanner_hf import ScannerEntityRecognizerConfig
from scanner_hf.distillation import WithTeacherLogits, add_teacher_logits
from scanner_hf.inference import Candidate, candidate_inputs, recognize
from scanner_hf.knowledge import DetectedObject, Knowledge
from scanner_hf.packing import PackedCollator, pack_prompts, split_prompt
from scanner_hf.prompting import PromptBuilder, PromptInput
from scanner_hf.stage2_data import encode_candidates
from scanner_hf.training import candidate_metrics

WORDS = ["steve", "kerr", "in", "paris"]


@pytest.fixture()
def tokenizer(stage2_tokenizer):
    return stage2_tokenizer


@pytest.fixture()
def model(tokenizer, tiny_encoder_config):
    return tiny_recognizer(tokenizer, tiny_encoder_config, max_prompt_length=64, packed_candidates=True, max_pack_tokens=128)


def prompts_for(builder, spans, knowledge=None, words=WORDS):
    return builder.build([PromptInput(words, start, end, knowledge or Knowledge()) for start, end in spans])


def test_a_texts_candidates_share_one_sequence(model, tokenizer):
    builder = model.prompt_builder(tokenizer)
    prompts = prompts_for(builder, [(0, 2), (3, 4), (0, 1)], Knowledge(wikipedia="a city in france", caption="a man"))
    shared, own = split_prompt(prompts[0])
    assert shared[0] == tokenizer.cls_token_id and shared[-1] == tokenizer.sep_token_id
    assert tokenizer.decode(shared[1:-1]) == "steve kerr in paris a man"
    assert tokenizer.decode(own) == f"the entity is {tokenizer.mask_token} for steve kerr in this sentence. a city in france"
    (pack,) = pack_prompts(prompts, max_pack_tokens=128)
    assert pack.members == [0, 1, 2]
    assert pack.input_ids[: len(shared)] == shared  # the text once
    assert len(pack.input_ids) == len(shared) + sum(len(split_prompt(p)[1]) for p in prompts)
    assert pack.candidate_ids == [0] * len(shared) + [1] * len(own) + [2] * len(split_prompt(prompts[1])[1]) + [3] * len(split_prompt(prompts[2])[1])
    assert pack.position_ids[len(shared) : len(shared) + len(own)] == list(range(len(shared), len(shared) + len(own)))
    # a tight budget starts new sequences (each still holds one candidate); another text gets its own
    assert [p.members for p in pack_prompts(prompts, max_pack_tokens=len(shared) + len(own))] == [[0], [1], [2]]
    other = prompts_for(builder, [(0, 1)], words=["paris", "is", "far"])
    assert [p.members for p in pack_prompts(prompts[:1] + other, 128)] == [[0], [1]]


def test_objects_are_not_part_of_a_packed_prompt(model, tokenizer):
    with_objects = Knowledge(objects=[DetectedObject("person", box=(0, 0, 5, 5))])
    assert model.prompt_builder(tokenizer).max_objects == 0
    assert "<obj>" not in tokenizer.decode(prompts_for(model.prompt_builder(tokenizer), [(0, 2)], with_objects)[0].input_ids)
    with pytest.raises(ValueError, match="no detected objects"):
        split_prompt(prompts_for(PromptBuilder(tokenizer, max_length=64, max_objects=3), [(0, 2)], with_objects)[0])
    with pytest.raises(ValueError, match="no grounding"):
        ScannerEntityRecognizerConfig(packed_candidates=True, grounding_weight=1.0)


def test_a_candidate_scores_the_same_alone_or_packed(model, tokenizer):
    builder = model.prompt_builder(tokenizer)
    prompts = prompts_for(builder, [(0, 2), (3, 4), (2, 3)], Knowledge(wikipedia="a city"))
    collator = PackedCollator(tokenizer.pad_token_id)
    together = model(**collator([vars(p) for p in pack_prompts(prompts, 256)])).logits[0]
    for index, prompt in enumerate(prompts):
        alone = model(**collator([vars(p) for p in pack_prompts([prompt], 256)])).logits[0, 0]
        torch.testing.assert_close(together[index], alone, atol=1e-5, rtol=1e-4)
    # and whoever shares the batch (padding of sequences and of candidates)
    longer = prompts_for(builder, [(0, 1), (1, 2), (2, 3), (3, 4)], words=["who", "met", "paris", "hilton"])
    batched = model(**collator([vars(p) for p in pack_prompts(prompts, 256) + pack_prompts(longer, 256)])).logits
    torch.testing.assert_close(batched[0, :3], together, atol=1e-5, rtol=1e-4)


def test_the_shared_text_is_encoded_as_the_text_alone(model, tokenizer):
    prompts = prompts_for(model.prompt_builder(tokenizer), [(0, 2), (3, 4)])
    batch = PackedCollator(tokenizer.pad_token_id)([vars(p) for p in pack_prompts(prompts, 256)])
    shared = split_prompt(prompts[0])[0]
    captured = {}
    hook = model.encoder.register_forward_hook(lambda module, args, output: captured.update(states=output.last_hidden_state))
    model(**batch)
    hook.remove()
    text_alone = model.encoder(torch.tensor([shared])).last_hidden_state
    torch.testing.assert_close(captured["states"][0, : len(shared)], text_alone[0], atol=1e-5, rtol=1e-4)


def test_packed_loss_is_the_mean_over_real_candidates(model, tokenizer):
    builder = model.prompt_builder(tokenizer)
    packs = pack_prompts(prompts_for(builder, [(0, 2), (3, 4)]), 256) + pack_prompts(prompts_for(builder, [(0, 1)], words=["paris"]), 256)
    features = [{**vars(pack), "labels": labels} for pack, labels in zip(packs, [[0, 1], [2]])]
    output = model(**PackedCollator(tokenizer.pad_token_id)(features))
    assert output.logits.shape == (2, 2, 3)
    real = torch.cat([output.logits[0, :2], output.logits[1, :1]])
    expected = torch.nn.functional.cross_entropy(real, torch.tensor([0, 1, 2]))
    assert output.loss.item() == pytest.approx(expected.item(), rel=1e-5)
    evaluation = type("Eval", (), {"predictions": output.logits.detach().numpy(), "label_ids": output_labels(features)})()
    predicted = real.argmax(-1)
    assert candidate_metrics(non_entity_id=2)(evaluation)["accuracy"] == pytest.approx(float((predicted == torch.tensor([0, 1, 2])).float().mean()))


def output_labels(features):
    return PackedCollator(0)(features)["labels"].numpy()


def test_recognize_returns_packed_results_in_input_order(model, tokenizer):
    builder = model.prompt_builder(tokenizer)
    tokens = [WORDS, ["paris", "is", "far"], WORDS]  # the third is a repeat of the first
    candidates = [Candidate(0, 0, 2), Candidate(1, 0, 1), Candidate(0, 3, 4), Candidate(2, 0, 2)]
    items = candidate_inputs(tokens, [None] * 3, candidates)
    results = recognize(model, builder, items, batch_size=1)
    collator = PackedCollator(tokenizer.pad_token_id)
    for item, (label_id, score, box, _) in zip(items, results):
        with torch.no_grad():
            alone = model(**collator([vars(p) for p in pack_prompts(builder.build([item]), 256)])).logits[0, 0].softmax(-1)
        assert label_id == int(alone.argmax()) and score == pytest.approx(float(alone.max()), rel=1e-4)
        assert box is None
    assert results[0] == results[3]


def test_packed_training_rows_and_cached_teacher_logits(model, tokenizer):
    from conftest import split_of

    split = split_of([(WORDS, ["B-PER", "I-PER", "O", "B-LOC"]), (["paris", "is", "far"], ["B-LOC", "O", "O"])])
    candidates = [Candidate(0, 0, 2, "PER"), Candidate(0, 3, 4, "LOC"), Candidate(0, 2, 3, "non-entity"), Candidate(1, 0, 1, "LOC")]
    builder = model.prompt_builder(tokenizer)
    rows = encode_candidates(split, candidates, builder, model.config.label2id, max_pack_tokens=128)
    assert len(rows) == 2 and rows["labels"] == [[0, 1, 2], [1]]
    collator = PackedCollator(tokenizer.pad_token_id)
    cached = add_teacher_logits(model, rows, collator)
    assert [len(logits) for logits in cached["teacher_logits"]] == [3, 1]
    batch = WithTeacherLogits(collator)([dict(row) for row in cached])
    assert batch["teacher_logits"].shape == batch["labels"].shape + (3,)
    torch.testing.assert_close(batch["teacher_logits"][1, 0], model(**collator([dict(rows[1])])).logits[0, 0], atol=1e-5, rtol=1e-4)


def test_train_packed_through_the_trainer_and_pipeline(tmp_path, tiny_backbone_dir):
    from conftest import write_twitter_folder
    from transformers import pipeline

    from scanner_hf import (
        KnowledgeSettings,
        ScannerTrainer,
        ScannerTrainingArguments,
        StageTraining,
    )
    from scanner_hf.data import load_ner_dataset

    splits = load_ner_dataset(str(write_twitter_folder(tmp_path / "data") / "twitter2017"))
    fast = {"batch_size": 4, "learning_rate": 3e-3, "warmup_ratio": 0.0}
    args = ScannerTrainingArguments(
        output_dir=str(tmp_path / "run"), backbone=str(tiny_backbone_dir), max_length=32, max_prompt_length=48,
        non_entity_folds=0, stage1=StageTraining(epochs=4, **fast), stage2=StageTraining(epochs=1, **fast, max_train_samples=8),
        knowledge=KnowledgeSettings(), stage2_packed=True,
    )
    ScannerTrainer(args, splits["train"], splits["validation"], splits["test"]).train()
    ner = pipeline("scanner-ner", model=str(tmp_path / "run" / "scanner"))
    assert ner.model.entity_recognizer.config.packed_candidates
    assert isinstance(ner("Steve Kerr praises the Warriors in Paris"), list)
    card = (tmp_path / "run" / "scanner" / "README.md").read_text()
    assert "stage2_packed" in card and "packed: the prompts of all candidates of a text share one encoder pass" in card
    with pytest.raises(ValueError, match="stage2_packed"):
        ScannerTrainingArguments(output_dir=str(tmp_path), stage2_packed=True, grounding_weight=1.0)


def test_the_short_head_is_only_the_mask_and_the_entity(tokenizer):
    short = PromptBuilder(tokenizer, max_length=64, max_objects=0, head="short")
    template = PromptBuilder(tokenizer, max_length=64, max_objects=0)
    (prompt,) = prompts_for(short, [(0, 2)])
    shared, own = split_prompt(prompt)
    assert tokenizer.decode(own) == f"{tokenizer.mask_token} steve kerr"
    assert split_prompt(prompts_for(template, [(0, 2)])[0])[0] == shared  # the same text part
    with pytest.raises(ValueError, match="prompt head"):
        PromptBuilder(tokenizer, head="long")


def test_in_a_document_candidates_share_a_sequence_only_with_their_own_sentences(model, tokenizer):
    builder = model.prompt_builder(tokenizer, max_context_words=5)
    document = ["steve", "kerr", "in", "paris", ".", "paris", "is", "far", "."]
    prompts = prompts_for(builder, [(0, 2), (3, 4), (5, 6)], words=document)
    packs = pack_prompts(prompts, 256)
    assert [pack.members for pack in packs] == [[0, 1], [2]]
    assert tokenizer.decode(split_prompt(prompts[2])[0][1:-1]) == "paris is far."


def test_the_composite_passes_packed_prompts_to_stage_2(model, tokenizer, tiny_encoder_config):
    from scanner_hf import (
        ScannerForMultimodalNER,
        ScannerSpanDetector,
        ScannerSpanDetectorConfig,
    )

    composite = ScannerForMultimodalNER.from_stages(ScannerSpanDetector(ScannerSpanDetectorConfig(encoder_config=tiny_encoder_config)), model)
    batch = PackedCollator(tokenizer.pad_token_id)([vars(p) for p in pack_prompts(prompts_for(model.prompt_builder(tokenizer), [(0, 2), (3, 4)]), 256)])
    with torch.no_grad():
        through = composite(
            prompt_input_ids=batch["input_ids"], prompt_attention_mask=batch["attention_mask"],
            prompt_position_ids=batch["position_ids"], prompt_candidate_ids=batch["candidate_ids"],
        ).logits
        torch.testing.assert_close(through, model(**batch).logits)
    assert through.shape == (1, 2, 3)


def test_batches_group_rows_of_similar_length():
    from scanner_hf.tokenization import length_batches

    lengths = [30, 100, 31, 28, 95, 200, 29]
    batches = length_batches(lengths, max_rows=3)
    assert sorted(i for batch in batches for i in batch) == list(range(len(lengths)))  # every row once
    assert batches == [[3, 6, 0], [2], [4, 1], [5]]  # at most 3 rows; 200 is not padded with the 95s
    assert length_batches([10] * 5, max_rows=2) == [[0, 1], [2, 3], [4]]


def test_packed_recognisers_hold_the_sentences_around_a_candidate_by_default():
    from scanner_hf.configuration import PACKED_CONTEXT_WORDS

    assert ScannerEntityRecognizerConfig(packed_candidates=True).max_context_words == PACKED_CONTEXT_WORDS
    assert ScannerEntityRecognizerConfig(packed_candidates=True, max_context_words=80).max_context_words == 80
    assert ScannerEntityRecognizerConfig().max_context_words is None
