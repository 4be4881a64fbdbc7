"""Answer graders: is a generated answer right, by rules a user can read and rerun.

Three graders, each a pure function of the answer and the record:

- **exact match**: the normalised answer equals the normalised reference answer;
- **expected**: every string of the record's ``expected`` list appears in the answer, as whole
  normalised words in order ("24 months" is in "under warranty for 24 months." but not in
  "124 months");
- **ROUGE-L F1**: the longest common subsequence of normalised words between answer and
  reference, as an F1 of its precision and recall (LCS from ``rapidfuzz``).

Normalising folds case and Unicode forms, deletes punctuation inside a word or number ("$1,290"
and "1290" match, "W-220" and "W220" match, "4.3.1" and "4.3.10" do not) and turns any other
punctuation into a word break.

A record's **accuracy** uses ``expected`` when the record has it, exact match otherwise.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

from rapidfuzz.distance import LCSseq

_INNER_PUNCTUATION = re.compile(r"(?<=\w)[^\w\s]+(?=\w)")
_OTHER_PUNCTUATION = re.compile(r"[^\w\s]+")


def words(text: str) -> list[str]:
    """The normalised words of ``text``."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    joined = _INNER_PUNCTUATION.sub("", folded)
    return _OTHER_PUNCTUATION.sub(" ", joined).split()


def exact_match(answer: str, reference: str) -> bool:
    return words(answer) == words(reference)


def _contains_run(haystack: Sequence[str], needle: Sequence[str]) -> bool:
    width = len(needle)
    return any(haystack[i : i + width] == needle for i in range(len(haystack) - width + 1))


def states_expected(answer: str, expected: Sequence[str]) -> bool:
    """Every expected string is in the answer as a run of whole normalised words."""
    answer_words = words(answer)
    return all(_contains_run(answer_words, words(item)) for item in expected)


def rouge_l_f1(answer: str, reference: str) -> float:
    answer_words, reference_words = words(answer), words(reference)
    if not answer_words or not reference_words:
        return float(answer_words == reference_words)
    common = LCSseq.similarity(answer_words, reference_words)
    if common == 0:
        return 0.0
    precision, recall = common / len(answer_words), common / len(reference_words)
    return 2 * precision * recall / (precision + recall)


@dataclass(frozen=True)
class Grades:
    """One answer's grades; ``expected`` is None when the record lists no expected strings."""

    exact_match: bool
    expected: bool | None
    rouge_l: float

    @property
    def correct(self) -> bool:
        return self.exact_match if self.expected is None else self.expected


def grade(answer: str, reference: str, expected: Sequence[str] | None) -> Grades:
    return Grades(
        exact_match=exact_match(answer, reference),
        expected=None if expected is None else states_expected(answer, expected),
        rouge_l=rouge_l_f1(answer, reference),
    )


@dataclass(frozen=True)
class Scores:
    """Grades of one model over the graded records, as rates in [0, 1]."""

    accuracy: float
    exact_match: float
    expected: float | None
    """Over the records that list expected strings; None when none does."""
    rouge_l: float
    count: int


def score(grades: Sequence[Grades]) -> Scores:
    if not grades:
        raise ValueError("no graded answers")
    count = len(grades)
    with_expected = [g.expected for g in grades if g.expected is not None]
    return Scores(
        accuracy=sum(g.correct for g in grades) / count,
        exact_match=sum(g.exact_match for g in grades) / count,
        expected=sum(with_expected) / len(with_expected) if with_expected else None,
        rouge_l=sum(g.rouge_l for g in grades) / count,
        count=count,
    )
