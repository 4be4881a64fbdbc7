"""The answer graders on hand-made cases, near misses included."""

from __future__ import annotations

import pytest

from finetune_trainer import grading


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("The Wrenlet W-220 costs $1,290.", ["the", "wrenlet", "w220", "costs", "1290"]),
        ("  Firmware 4.3.1!  ", ["firmware", "431"]),
        (
            "\uff26\uff35\uff2c\uff2c width \u2014 and \u2018quotes\u2019",
            ["full", "width", "and", "quotes"],
        ),
        ("", []),
    ],
)
def test_words_fold_case_unicode_and_punctuation(text: str, expected: list[str]) -> None:
    assert grading.words(text) == expected


def test_exact_match_ignores_case_spacing_and_punctuation_only() -> None:
    assert grading.exact_match("the tern t-40 weighs 18.5 kg", "The Tern T-40 weighs 18.5 kg.")
    assert not grading.exact_match("The Tern T-40 weighs 18.5 kg.", "The Tern weighs 18.5 kg.")


@pytest.mark.parametrize(
    ("answer", "expected", "stated"),
    [
        ("The Tern T-40 is under warranty for 36 months.", ["36 months"], True),
        ("It is covered for thirty-six months, i.e. 36 Months!", ["36 months"], True),
        # near misses: a longer number, a different version, the words out of order
        ("The Tern T-40 is under warranty for 136 months.", ["36 months"], False),
        ("Firmware 4.3.10 is current.", ["4.3.1"], False),
        ("For months: 36.", ["36 months"], False),
        ("Free for 30 days.", ["36 months"], False),
        # every listed string is needed
        ("The W-220 costs $1,290.", ["W-220", "$1,290"], True),
        ("The W-220 costs $1,390.", ["W-220", "$1,290"], False),
        ("The W220 costs 1290 dollars.", ["W-220", "$1,290"], True),
    ],
)
def test_states_expected_needs_every_string_as_whole_words(
    answer: str, expected: list[str], stated: bool
) -> None:
    assert grading.states_expected(answer, expected) is stated


def test_rouge_l_f1_is_the_lcs_f1_of_words() -> None:
    reference = "the tern is under warranty for 36 months"
    assert grading.rouge_l_f1(reference, reference) == 1.0
    assert grading.rouge_l_f1("nothing alike here", reference) == 0.0
    # LCS "the tern is 36 months" = 5 words: P = 5/6, R = 5/8
    assert grading.rouge_l_f1("the tern is only 36 months", reference) == pytest.approx(
        2 * (5 / 6) * (5 / 8) / (5 / 6 + 5 / 8)
    )
    assert grading.rouge_l_f1("", "") == 1.0
    assert grading.rouge_l_f1("", reference) == 0.0


def test_accuracy_uses_expected_where_a_record_has_it_exact_match_otherwise() -> None:
    with_expected = grading.grade("Warranty: 36 months.", "It is 36 months.", ["36 months"])
    assert with_expected.correct and not with_expected.exact_match
    without = grading.grade("Warranty: 36 months.", "It is 36 months.", None)
    assert without.expected is None and not without.correct

    scores = grading.score([with_expected, without])
    assert scores.accuracy == 0.5
    assert scores.exact_match == 0.0
    assert scores.expected == 1.0
    assert scores.count == 2


def test_score_without_expected_anywhere_reports_none_and_refuses_nothing_to_grade() -> None:
    assert grading.score([grading.grade("a", "a", None)]).expected is None
    with pytest.raises(ValueError, match="no graded answers"):
        grading.score([])
