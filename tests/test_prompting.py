"""Stage 2's prompt: layout, slots, and every shortening path (objects, caption, LLM, Wikipedia,
sentence window), each counted."""

import pytest
from conftest import stage2_tokenizer_from

from scanner_hf.knowledge import DetectedObject, Knowledge
from scanner_hf.prompting import (
    PromptBuilder,
    PromptInput,
    PromptTooLongError,
    context_window,
    fair_shares,
    focus_on_candidate,
)

SENTENCE = ["steve", "kerr", "praises", "the", "warriors", "in", "paris"]


@pytest.fixture()
def tokenizer(tiny_tokenizer):
    tokenizer = stage2_tokenizer_from(tiny_tokenizer)
    return tokenizer


def knowledge(objects=3):
    return Knowledge(
        wikipedia="steve kerr is a coach of the warriors",
        caption="a man at the game",
        objects=[DetectedObject("person", "a man"), DetectedObject("ball"), DetectedObject("hat")][:objects],
    )


def full_length(tokenizer, item):
    return len(PromptBuilder(tokenizer, max_length=512).build([item])[0].input_ids)


def test_prompt_layout_and_slots(tokenizer):
    builder = PromptBuilder(tokenizer, max_length=512, max_objects=15)
    [prompt] = builder.build([PromptInput(SENTENCE, 0, 2, knowledge())])
    text = tokenizer.decode(prompt.input_ids)
    assert text == (
        "[CLS] the entity is [MASK] for steve kerr in this sentence. steve kerr praises the warriors in paris "
        "steve kerr is a coach of the warriors a man at the game <obj> person, a man <obj> ball <obj> hat [SEP]"
    )
    assert prompt.object_indices == [0, 1, 2] and not builder.stats


def test_max_objects_caps_slots(tokenizer):
    [prompt] = PromptBuilder(tokenizer, max_length=512, max_objects=2).build([PromptInput(SENTENCE, 0, 2, knowledge())])
    assert prompt.object_indices == [0, 1]
    assert prompt.input_ids.count(tokenizer.convert_tokens_to_ids("<obj>")) == 2


def test_objects_are_dropped_first_least_similar_last(tokenizer, caplog):
    item = PromptInput(SENTENCE, 0, 2, knowledge())
    length = full_length(tokenizer, item)
    builder = PromptBuilder(tokenizer, max_length=length - 1)
    [prompt] = builder.build([item])
    assert prompt.object_indices == [0, 1]  # "hat", the last (least similar) object, went first
    assert "1 of 1 prompts were shortened" in caplog.text and "objects_dropped" in caplog.text
    assert builder.stats == {"objects_dropped": 1, "prompts_shortened": 1}
    assert len(prompt.input_ids) <= length - 1


def test_the_longest_source_is_cut_and_short_ones_stay_whole(tokenizer):
    item = PromptInput(SENTENCE, 0, 2, knowledge(objects=0))
    length = full_length(tokenizer, item)
    builder = PromptBuilder(tokenizer, max_length=length - 2)
    [prompt] = builder.build([item])
    assert builder.stats == {"wikipedia_shortened": 1, "prompts_shortened": 1}  # 8 tokens, against the caption's 5
    decoded = tokenizer.decode(prompt.input_ids)
    assert "steve kerr is a coach of a man at the game [SEP]" in decoded
    builder = PromptBuilder(tokenizer, max_length=length - 11)  # both over an equal share: both cut to it
    [prompt] = builder.build([item])
    assert builder.stats == {"wikipedia_shortened": 1, "caption_shortened": 1, "prompts_shortened": 1}
    assert "in paris steve kerr is a a man [SEP]" in tokenizer.decode(prompt.input_ids)


def test_fair_shares_water_fill():
    assert fair_shares([3, 50, 10], 30) == [3, 17, 10]
    assert fair_shares([3, 50, 10], 6) == [2, 2, 2]
    assert fair_shares([0, 50, 0], 9) == [0, 9, 0] and fair_shares([5, 5], -3) == [0, 0]


def test_llm_sentences_about_the_candidate_come_first():
    text = "Named entities:1. Citifield (stadium/venue)2. NewYorkMets (baseball team)Reasoning:The sentence mentions Citifield."
    assert focus_on_candidate(text, "New York Mets").startswith("2. NewYorkMets (baseball team) Named entities:")
    assert focus_on_candidate(text, "Citifield") == (
        "1. Citifield (stadium/venue) Reasoning:The sentence mentions Citifield. Named entities: 2. NewYorkMets (baseball team)"
    )
    assert focus_on_candidate("Kerr is a coach. He won.", "Kerr") == "Kerr is a coach. He won."  # already first
    assert focus_on_candidate("Nothing about it. At all.", "Kerr") == "Nothing about it. At all."


def test_llm_text_is_shortened_before_wikipedia(tokenizer):
    item = PromptInput(SENTENCE, 0, 2, Knowledge(wikipedia="a coach", llm="steve kerr is a person"))
    length = full_length(tokenizer, item)
    builder = PromptBuilder(tokenizer, max_length=length - 2)
    [prompt] = builder.build([item])
    assert builder.stats == {"llm_shortened": 1, "prompts_shortened": 1}
    decoded = tokenizer.decode(prompt.input_ids)
    assert "paris a coach steve kerr is a" in decoded and "person" not in decoded  # Wikipedia kept whole


def test_sentence_is_windowed_around_the_entity_never_cut_silently(tokenizer):
    words = ["love", "the", "game"] * 30 + ["steve", "kerr"] + ["at", "the", "game"] * 30
    builder = PromptBuilder(tokenizer, max_length=40)
    [prompt] = builder.build([PromptInput(words, 90, 92, knowledge())])
    start, end = prompt.sentence_window
    assert start < 90 and end > 92 and (start, end) != (0, len(words))
    assert len(prompt.input_ids) <= 40
    assert builder.stats["sentence_windowed"] == 1 and builder.stats["objects_dropped"] == 3
    assert builder.stats["caption_dropped"] == 1 and builder.stats["wikipedia_dropped"] == 1


def test_context_window_keeps_whole_sentences_around_the_candidate():
    words = "a b c . d e f g . h i . j k l m n o p q r s t u v w x y z".split()
    assert context_window(words, 5, 6, None) == (0, len(words))
    assert context_window(words, 5, 6, 100) == (0, len(words))  # short input: all of it
    assert context_window(words, 5, 6, 7) == (4, 9)  # its sentence (d e f g .); h i . would make 8
    assert context_window(words, 5, 6, 8) == (4, 12)  # + h i . (a b c . would make 9)
    assert context_window(words, 5, 6, 9) == (0, 9)  # the sentence before is tried first
    lo, hi = context_window(words, 20, 22, 6)  # inside a 17-word sentence: 6 words around the candidate
    assert hi - lo == 6 and lo <= 20 and hi >= 22 and lo >= 11
    assert context_window(words, 12, 26, 4) == (12, 26)  # the candidate itself is never cut


def test_long_inputs_give_each_candidate_its_sentences_without_a_warning(tokenizer, caplog):
    first = ["love", "the", "game", "."] * 10
    words = first + ["steve", "kerr", "at", "the", "game", "."] + ["go", "warriors", "!"] * 10
    limited = PromptBuilder(tokenizer, max_length=512, max_context_words=12)
    with caplog.at_level("INFO", logger="scanner_hf.prompting"):
        [prompt] = limited.build([PromptInput(words, 40, 42, Knowledge())])
    assert prompt.sentence_window == (36, 46)  # its sentence and the one before (10 words; 13 with the next)
    decoded = tokenizer.decode(prompt.input_ids, skip_special_tokens=True)
    assert decoded.endswith("for steve kerr in this sentence. love the game. steve kerr at the game.") and "warriors" not in decoded
    assert limited.stats == {"context_limited": 1} and "max_context_words=12" in caplog.text
    assert not [r for r in caplog.records if r.levelname == "WARNING"]
    unlimited = PromptBuilder(tokenizer, max_length=512)
    short = PromptInput(SENTENCE, 0, 2, knowledge())
    assert limited.build([short])[0].input_ids == unlimited.build([short])[0].input_ids  # tweets are unchanged
    assert len(unlimited.build([PromptInput(words, 40, 42, Knowledge())])[0].input_ids) > len(prompt.input_ids)


def test_entity_that_cannot_fit_is_an_error(tokenizer):
    words = ["steve"] * 60
    with pytest.raises(PromptTooLongError):
        PromptBuilder(tokenizer, max_length=32).build([PromptInput(words, 0, 60, Knowledge())])
    # callers that can answer for such a candidate (inference: non-entity; training: left out) ask for None
    builder = PromptBuilder(tokenizer, max_length=32)
    too_long, fits = builder.build([PromptInput(words, 0, 60, Knowledge()), PromptInput(words, 0, 2, Knowledge())],
                                   skip_too_long=True)
    assert too_long is None and fits is not None and builder.stats["too_long"] == 1


def test_literal_slot_tokens_in_text_stay_text(tokenizer):
    words = ["[MASK]", "<obj>", "paris"]
    [prompt] = PromptBuilder(tokenizer).build([PromptInput(words, 2, 3, Knowledge(caption="<obj> [MASK]"))])
    assert prompt.input_ids.count(tokenizer.mask_token_id) == 1
    assert prompt.input_ids.count(tokenizer.convert_tokens_to_ids("<obj>")) == 0


def test_builder_requires_the_object_token(tiny_tokenizer):
    fresh = tiny_tokenizer.__class__(vocab=dict(tiny_tokenizer.get_vocab()))
    fresh_vocab = fresh.get_vocab()
    if "<obj>" in fresh_vocab:
        pytest.skip("tokenizer already has <obj>")
    with pytest.raises(ValueError, match="add_object_token"):
        PromptBuilder(fresh)
