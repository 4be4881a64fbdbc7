"""WatchGaps: what the operator held before an audit's list, and the list lacks, is set aside;
nothing created after the snapshot is judged; each audit replaces the last one's finding."""

from __future__ import annotations

from dataclasses import dataclass

from finetune_operator.watch_gaps import LiveIndex, WatchGaps, held_uids


@dataclass(frozen=True)
class Thing:
    uid: str


def test_held_but_not_listed_is_set_aside_per_namespace() -> None:
    gaps = WatchGaps(interval=60)
    assert gaps.record("a", {"1", "2", "3"}, {"1", "3", "9"}, now=0) == {"2"}
    assert gaps.gone("a", "2")
    assert not gaps.gone("b", "2")
    assert gaps.live("a", [Thing("1"), Thing("2")]) == [Thing("1")]
    # The next audit: "2" left the index meanwhile, so the finding shrinks; nothing new.
    assert gaps.record("a", {"1", "3"}, {"1", "3"}, now=60) == set()
    assert not gaps.gone("a", "2")


def test_an_audit_is_due_once_an_interval() -> None:
    gaps = WatchGaps(interval=60)
    assert gaps.due("a", now=5)
    gaps.record("a", set(), set(), now=5)
    assert not gaps.due("a", now=64)
    assert gaps.due("a", now=65)
    assert gaps.due("b", now=64)


def test_followed_jobs_are_counted_in_their_namespace() -> None:
    gaps = WatchGaps(interval=60)
    gaps.followed |= {"j1": "a", "j2": "b"}
    assert gaps.followed_in("a") == {"j1"}


def test_the_live_view_of_an_index_hides_what_was_set_aside() -> None:
    index = {("a", "x"): [Thing("1"), Thing("2")], ("b", "y"): [Thing("2")]}
    assert held_uids(index, "a") == {"1", "2"}
    gaps = WatchGaps(interval=60)
    gaps.record("a", {"2"}, set(), now=0)
    live = LiveIndex(index, gaps)
    assert live[("a", "x")] == [Thing("1")]
    assert live[("b", "y")] == [Thing("2")], "another namespace's audit decides for it"
    assert live.get(("c", "z"), []) == []
    assert set(live) == set(index)
