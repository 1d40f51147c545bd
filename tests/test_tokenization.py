import itertools

import pytest

from scanner_hf.tokenization import (
    IGNORE_INDEX,
    SequenceTooLongError,
    align_first_subword_labels,
    encode_words_for_training,
    first_subword_positions,
    first_subword_shapes,
    sentence_spans,
    split_sentences,
    split_words,
    word_windows,
    words_from_tokens,
)


def test_split_words_offsets_point_into_text():
    text = "RT @nba: Steve Kerr's Warriors win! https://t.co/x #DubNation"
    words = split_words(text)
    assert [w.text for w in words] == [
        "RT", "@nba", ":", "Steve", "Kerr's", "Warriors", "win", "!", "https://t.co/x", "#DubNation",
    ]
    assert all(text[w.start : w.end] == w.text for w in words)


def test_words_from_tokens_joins_with_spaces():
    text, words = words_from_tokens(["New", "York", "!"])
    assert text == "New York !"
    assert [(w.start, w.end) for w in words] == [(0, 3), (4, 8), (9, 10)]


def test_word_windows_cover_everything_with_overlap():
    counts = [2, 3, 1, 4, 2, 2, 1]
    assert word_windows(counts, 100) == [(0, 7)]
    windows = word_windows(counts, 6, overlap=1)
    assert windows[0][0] == 0 and windows[-1][1] == len(counts)
    for (s1, e1), (s2, e2) in itertools.pairwise(windows):
        assert s2 <= e1 and s2 > s1  # contiguous and always progressing
    assert all(sum(counts[s:e]) <= 6 for s, e in windows)
    with pytest.raises(SequenceTooLongError):
        word_windows([1, 9], 8)


def test_first_subword_alignment():
    word_ids = [None, 0, 0, 1, 2, 2, None]
    assert first_subword_positions(word_ids) == [(1, 0), (3, 1), (4, 2)]
    assert align_first_subword_labels(word_ids, [1, 0, 2]) == [IGNORE_INDEX, 1, IGNORE_INDEX, 0, 2, IGNORE_INDEX, IGNORE_INDEX]
    shapes = first_subword_shapes(word_ids, ["Kerr", "nba", "NBA"])
    assert shapes[1] and shapes[3] and shapes[4] and shapes[1] != shapes[3] != shapes[4]
    assert [shapes[i] for i in (0, 2, 5, 6)] == [0, 0, 0, 0]


def test_long_sentences_are_windowed_not_cut(tiny_tokenizer, caplog):
    words = ["steve", "kerr"] * 20
    labels = [1, 2] * 20
    encoded = encode_words_for_training(tiny_tokenizer, [words], [labels], max_length=12)
    assert len(encoded["input_ids"]) > 1
    assert all(len(ids) <= 12 for ids in encoded["input_ids"])
    assert sum(len(w) for w in encoded["words"]) == len(words)
    kept = [label for row in encoded["labels"] for label in row if label != IGNORE_INDEX]
    assert kept == labels
    assert "split into word windows" in caplog.text


def sentences_of(words):
    return [" ".join(words[a:b]) for a, b in sentence_spans(words)]


def test_sentence_spans_skip_initials_acronyms_and_titles():
    words = "Mr. Smith met J. Doe in the U.S. today . Great game ! \"Go Spurs!\" he said . \"Wow!\" Then".split()
    assert sentences_of(words) == ["Mr. Smith met J. Doe in the U.S. today .", "Great game !", '"Go Spurs!" he said .', '"Wow!"', "Then"]


def test_sentence_spans_of_split_words_keep_abbreviations_whole():
    words = [w.text for w in split_words("Mr. Smith met J. Doe of the U.S. Army today. Just say no. Great game!")]
    assert sentences_of(words) == ["Mr . Smith met J . Doe of the U.S . Army today .", "Just say no .", "Great game !"]
    assert sentences_of("love the game . go warriors !".split()) == ["love the game .", "go warriors !"]  # lower-case tweets
    assert sentences_of("so do I . Then plan b .".split()) == ["so do I .", "Then plan b ."]


def test_split_sentences_of_raw_text():
    text = "St. Louis is a city in   Missouri. Yahoo! is a web portal. It was founded in 1994... by two students."
    assert split_sentences(text) == ["St. Louis is a city in Missouri.", "Yahoo! is a web portal.", "It was founded in 1994... by two students."]
    assert split_sentences("") == [] and split_sentences("no end") == ["no end"]
