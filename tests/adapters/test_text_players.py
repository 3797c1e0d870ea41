"""Word players on text: selection, labels, duplicates, spans, and the map to token positions."""

from __future__ import annotations

import pytest
import torch
from helpers.lm_models import CORPUS, PROMPT, make_tokenizer
from hypothesis import given, settings
from hypothesis import strategies as st

from captum_interactions.adapters.base import Prompt
from captum_interactions.adapters.text import (
    STOP_WORDS,
    PlayerError,
    content_words,
    select_players,
    token_positions,
    words,
)

TEXT = "The cat saw the dog, and the dog saw the cat."


def _prompt(tokenizer, text: str) -> Prompt:
    encoding = tokenizer(text, return_offsets_mapping=True)
    offsets = tuple(tuple(pair) for pair in encoding["offset_mapping"])
    return Prompt(text, torch.tensor(encoding["input_ids"]), offsets)


def _texts(chosen):
    return [chosen.text[a:b] for a, b in chosen.spans]


# ------------------------------------------------------------------------------ selection
def test_given_words_keep_their_order_and_spans():
    chosen = select_players(TEXT, ["dog", "The", "cat"])
    assert chosen.labels == ("dog", "The", "cat")
    assert chosen.spans == ((16, 19), (0, 3), (4, 7))
    assert not chosen.automatic


def test_repeated_word_names_next_occurrence_and_labels_are_unique():
    chosen = select_players(TEXT, ["the", "the", "the"])
    assert chosen.labels == ("the", "the#2", "the#3")
    assert _texts(chosen) == ["the"] * 3
    assert [a for a, _ in chosen.spans] == [12, 25, 37]


def test_occurrence_and_position_forms_round_trip_through_labels():
    chosen = select_players(TEXT, ["cat#2", "dog", "dog#2", (8, 11)])
    assert chosen.labels == ("cat#2", "dog", "dog#2", "saw")
    again = select_players(TEXT, list(chosen.labels))
    assert again.spans == chosen.spans
    assert again.labels == chosen.labels
    inside = select_players("unthinkable", [(2, 7)])
    assert inside.labels == ("think@2",)
    assert select_players("unthinkable", list(inside.labels)).spans == ((2, 7),)


def test_plain_word_skips_occurrences_named_explicitly():
    chosen = select_players(TEXT, ["the#2", "the"])
    assert [a for a, _ in chosen.spans] == [25, 12]
    assert chosen.labels == ("the#2", "the")


def test_span_whitespace_is_trimmed_and_multi_word_players_work():
    chosen = select_players("in New York today", [(2, 12), "today"])
    assert _texts(chosen) == ["New York", "today"]
    assert select_players("in New York today", ["New York"]).spans == ((3, 11),)


def test_words_are_matched_at_word_boundaries_only():
    with pytest.raises(PlayerError, match="does not occur as a whole word"):
        select_players("This is it", ["Th"])
    assert select_players("This is it", ["is"]).spans == ((5, 7),)


def test_a_word_never_matches_inside_a_larger_word():
    text = "The state-of-the-art state machine"
    assert select_players(text, ["state"]).spans == ((21, 26),)  # not inside the compound
    assert select_players(text, ["state-of-the-art"]).labels == ("state-of-the-art",)
    with pytest.raises(PlayerError, match="does not occur as a whole word"):
        select_players("It is state-of-the-art", ["state"])
    # a span inside a word is named by position, and the label says so
    assert select_players(text, [(4, 9)]).labels == ("state@4",)
    assert select_players("it's its", ["its"]).spans == ((5, 8),)  # not inside "it's"


def test_numbers_with_separators_are_one_word():
    text = "It costs $1,000.50 or 3.14 times 2,5 in 2024."
    assert [text[a:b] for a, b in words(text)] == [
        "It", "costs", "1,000.50", "or", "3.14", "times", "2,5", "in", "2024"]
    assert select_players(text, ["1,000.50"]).labels == ("1,000.50",)
    with pytest.raises(PlayerError):
        select_players(text, ["000"])  # a piece of a number is not a word


def test_fewer_automatic_players_than_requested_say_why():
    chosen = select_players("The cat sat on the mat.", n_players=5)
    assert chosen.requested == 5
    assert len(chosen) == 3
    assert chosen.shortfall.startswith(
        "the prompt has 3 content words, so 3 players were chosen instead of 5")
    assert select_players("The cat sat on the mat.", n_players=3).shortfall is None
    assert select_players("The cat sat.", ["cat"]).shortfall is None  # given, not automatic


def test_automatic_players_are_last_content_words_in_reading_order():
    text = "Paris is the capital and largest city of France, and Berlin is the capital of"
    chosen = select_players(text, n_players=4)
    assert chosen.automatic
    assert chosen.labels == ("city", "France", "Berlin", "capital#2")
    everything = select_players(text, n_players=100)
    assert everything.labels == ("Paris", "capital", "largest", "city", "France", "Berlin",
                                 "capital#2")
    assert all(label.split("#")[0].lower() not in STOP_WORDS for label in everything.labels)


def test_automatic_selection_is_deterministic_and_tokenizer_free():
    assert select_players(CORPUS, n_players=10) == select_players(CORPUS, n_players=10)


def test_word_and_content_word_units():
    text = "It's state-of-the-art, isn't it? 42 apples."
    assert [text[a:b] for a, b in words(text)] == [
        "It's", "state-of-the-art", "isn't", "it", "42", "apples"]
    assert [text[a:b] for a, b in content_words(text)] == ["state-of-the-art", "42", "apples"]


# ----------------------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    ("players", "match"),
    [
        (["cow"], r"player 'cow' does not occur as a whole word"),
        (["the"] * 4, r"'the' is listed 4 times .* occurs only 3 time"),
        (["cat", (4, 9)], r"overlap; players must be disjoint"),
        (["The cat", "cat"], r"overlap"),
        (["cat#3"], r"occurrence 3 of 'cat', but the prompt has 2"),
        (["cat@5"], r"has 'at ' at character 5, not 'cat'"),
        ([(40, 99)], r"not inside the prompt"),
        (["  "], r"must contain text"),
        ([(20, 21)], r"only whitespace"),
    ],
    ids=["missing", "too-many-repeats", "overlap-span", "overlap-words", "occurrence",
         "position", "span-range", "blank", "whitespace-span"],
)
def test_bad_players_raise_clear_errors(players, match):
    with pytest.raises(PlayerError, match=match):
        select_players(TEXT, players)


def test_case_mismatch_error_names_the_prompts_spelling():
    with pytest.raises(PlayerError, match=r"the prompt has \['The', 'the'\]"):
        select_players(TEXT, ["THE"])


def test_more_players_than_words():
    with pytest.raises(PlayerError, match="3 players were given but the prompt has only 2"):
        select_players("hello world", ["hello", "world", "hello"])


def test_wrong_types():
    with pytest.raises(TypeError, match=r"Wrap a single player in a list"):
        select_players(TEXT, "cat")
    with pytest.raises(TypeError, match=r"Wrap a single player in a list"):
        select_players(TEXT, (4, 7))
    with pytest.raises(TypeError, match="a player must be a word"):
        select_players(TEXT, [3.5])
    with pytest.raises(PlayerError, match="players is empty"):
        select_players(TEXT, [])
    with pytest.raises(PlayerError, match="no content words"):
        select_players("and the of it", None)
    with pytest.raises(PlayerError, match="at least 1"):
        select_players(TEXT, n_players=0)


# ---------------------------------------------------------------------- token positions
@pytest.mark.parametrize("kind", ["bpe", "word"])
@pytest.mark.parametrize("add_bos", [False, True], ids=["no-bos", "bos"])
def test_words_map_to_the_tokens_that_spell_them(kind, add_bos):
    tokenizer = make_tokenizer(kind, add_bos=add_bos)
    prompt = _prompt(tokenizer, PROMPT)
    chosen = select_players(PROMPT, ["capital", "france", "paris", ",", "capital#2", "is#2"])
    positions = chosen.positions(prompt)
    ids = prompt.input_ids.tolist()
    for (a, b), found in zip(chosen.spans, positions, strict=True):
        # decoding the player's tokens gives back its word (BPE words span several tokens)
        assert tokenizer.decode([ids[i] for i in found]).strip() == PROMPT[a:b]
        assert list(found) == sorted(found)
    if add_bos:
        assert all(0 not in found for found in positions)  # BOS is background
    if kind == "bpe":
        assert max(len(found) for found in positions) > 1


def test_positions_match_a_character_level_oracle():
    """Every non-space character of a player lies in one of its tokens, and nothing else does."""
    tokenizer = make_tokenizer("bpe", add_bos=True)

    @settings(max_examples=60, deadline=None)
    @given(st.data())
    def check(data):
        corpus_words = CORPUS.split()
        count = data.draw(st.integers(3, 12))
        text = " ".join(data.draw(st.lists(st.sampled_from(corpus_words), min_size=count,
                                           max_size=count)))
        spans = words(text) + _punctuation(text)
        chosen_spans = data.draw(st.lists(st.sampled_from(spans), min_size=1, max_size=5,
                                          unique=True))
        prompt = _prompt(tokenizer, text)
        positions = token_positions(prompt, chosen_spans)
        owner = {}
        for player, found in enumerate(positions):
            for position in found:
                owner[position] = player
        for player, (a, b) in enumerate(chosen_spans):
            for char in range(a, b):
                holder = [i for i, (s, e) in enumerate(prompt.offsets) if s <= char < e]
                assert [owner.get(i) for i in holder] == [player]
        for position, player in owner.items():
            s, e = prompt.offsets[position]
            a, b = chosen_spans[player]
            assert text[max(s, a):min(e, b)].strip()

    check()


def _punctuation(text):
    return [(i, i + 1) for i, char in enumerate(text) if char in ",."]


def test_token_crossing_two_players_is_an_error():
    prompt = Prompt("New York", torch.tensor([7]), ((0, 8),))
    with pytest.raises(PlayerError, match=r"covers both player 'New' and player 'York'"):
        token_positions(prompt, [(0, 3), (4, 8)])


def test_player_without_tokens_is_an_error():
    prompt = Prompt("ab cd", torch.tensor([1, 2]), ((0, 0), (0, 2)))
    with pytest.raises(PlayerError, match=r"player 'cd' \(characters 3-5\) covers no token"):
        token_positions(prompt, [(3, 5)])


def test_players_and_prompt_must_share_their_text():
    chosen = select_players(TEXT, ["cat"])
    prompt = _prompt(make_tokenizer("word"), "the cat")
    with pytest.raises(PlayerError, match="select players in the same text"):
        chosen.positions(prompt)
