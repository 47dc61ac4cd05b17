"""The live counts: kept as the states change, always equal to counting every job afresh."""

from __future__ import annotations

import random
from collections import Counter

from grokbatch.books import Tally
from grokbatch.state.base import JobState


def test_counts_follow_every_change_of_state() -> None:
    tally = Tally()
    rng = random.Random(7)
    truth: dict[str, JobState] = {}
    states = list(JobState)
    for _ in range(5_000):
        key, state = f"k{rng.randrange(300)}", rng.choice(states)
        tally.see(key, state)
        truth[key] = state
        expected = Counter(s.value for s in truth.values())
        assert tally.counts() == dict(expected)
    assert all(n > 0 for n in tally.counts().values())  # a state no job is in is left out
    assert tally.state("k0") is truth["k0"] and tally.state("never") is JobState.PENDING
