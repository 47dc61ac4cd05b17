"""The reconcile decisions from tables: facts about lost submits → a verdict."""

from __future__ import annotations

import math

import pytest

from grokbatch import providers
from grokbatch.reconcile import (
    CannotTell,
    Found,
    Looked,
    Lost,
    Method,
    NotCreated,
    Replay,
    Seen,
    Settings,
    Verdict,
    by_replay,
    by_request_id,
    by_time,
    method_of,
    remedy,
)

S = Settings(settle_window=60.0, clock_skew=1.0, wire_time=10.0, replay_window=3600.0)


def lost(key: str, claimed: float, lost_at: float | None = None, **kw: object) -> Lost:
    """A lost submit of request `body` (default: its own, so no two are interchangeable)."""
    fields: dict[str, object] = {"body": f"body-{key}", "lost_at": lost_at} | kw
    return Lost(key, claimed_at=claimed, **fields)  # type: ignore[arg-type]


def looked(*seen: Seen, at: float = 1000.0, since: float = -math.inf, known: str = "") -> Looked:
    return Looked(tuple(seen), since=since, at=at, known=frozenset(known.split()))


def kind(verdict: Verdict) -> str:
    if isinstance(verdict, Found):
        return f"found {verdict.remote_id}"
    if isinstance(verdict, NotCreated):
        return "not created"
    return "cannot tell" + ("" if verdict.retry_at is None else f" until {verdict.retry_at:g}")


def test_each_provider_has_the_lookup_its_api_allows() -> None:
    methods = {p.name: method_of(p) for p in providers.all_providers()}
    assert methods == {
        "pixeldojo": Method.NONE,
        "aimlapi": Method.REQUEST_ID,
        "aivideoapi": Method.NONE,
        "apiframe": Method.REPLAY,
        "vydra": Method.TIME,
        "xai": Method.NONE,
    }


# --- AI/ML API: by the request id the submit carried ----------------------------------------

# The submit was claimed at 100 and lost at 101: a row would be listed by 102 + 60.
# fmt: off
REQUEST_ID_CASES = [
    ("its row", looked(Seen("g1", 100.5, "k.1"), Seen("g2", 100.4, "x.1")), "found g1"),
    ("its row, before the window closed", looked(Seen("g1", 100.5, "k.1"), at=101.0), "found g1"),
    ("two rows carry its id", looked(Seen("g1", 100, "k.1"), Seen("g2", 100, "k.1")),
     "cannot tell"),
    ("its row is another job's", looked(Seen("g1", 100, "k.1"), known="g1"), "cannot tell"),
    ("no row, window open", looked(Seen("g2", 100, "x.1"), at=150.0), "cannot tell until 162"),
    ("no row, window passed", looked(Seen("g2", 100, "x.1"), at=162.0), "not created"),
    ("the id of an earlier attempt", looked(Seen("g1", 100, "k.0"), at=500.0), "not created"),
    ("the list does not reach back", looked(at=500.0, since=120.0), "cannot tell"),
]
# fmt: on


@pytest.mark.parametrize(("facts", "expected"), [c[1:] for c in REQUEST_ID_CASES],
                         ids=[c[0] for c in REQUEST_ID_CASES])  # fmt: skip
def test_by_request_id(facts: Looked, expected: str) -> None:
    assert kind(by_request_id(lost("k", 100.0, 101.0, request_id="k.1"), facts, settings=S)) == (
        expected
    )


def test_a_submit_without_a_request_id_cannot_be_looked_up_by_one() -> None:
    verdict = by_request_id(lost("k", 100.0, 101.0), looked(at=500.0), settings=S)
    assert isinstance(verdict, CannotTell) and verdict.retry_at is None


def test_the_settle_window_counts_from_the_end_of_the_wire_time_when_the_loss_is_unknown() -> None:
    # Killed with the request on the wire: it can have made a job until claim + wire time.
    facts = looked(at=150.0)
    assert kind(by_request_id(lost("k", 100.0, request_id="k.1"), facts, settings=S)) == (
        "cannot tell until 171"
    )


# --- Vydra: by the time a job unknown to the state was made ---------------------------------

# Windows with skew 1: A claimed at 100, lost at 101 → [99, 102]; B claimed at 101, lost at
# 104 → [100, 105]; T1 and T2 are takes of one request (same body) with A's and B's times.
A, B = lost("a", 100.0, 101.0), lost("b", 101.0, 104.0)
T1 = lost("t1", 100.0, 101.0, body="same")
T2 = lost("t2", 101.0, 104.0, body="same")
OTHER = lost("o", 100.5, None, ours=False, label="job o of another manifest")

# fmt: off
TIME_CASES = [
    # (name, claims, listed (id, created), known ids, read at, expected per claim)
    ("the one unknown job made meanwhile", [A], [("r1", 100.5)], "", 200.0, {"a": "found r1"}),
    ("only known jobs made meanwhile", [A], [("r1", 100.5)], "r1", 200.0, {"a": "not created"}),
    ("nothing listed", [A], [], "", 200.0, {"a": "not created"}),
    ("an unknown job made before it", [A], [("r1", 97.0)], "", 200.0, {"a": "not created"}),
    ("an unknown job made after it", [A], [("r1", 103.0)], "", 200.0, {"a": "not created"}),
    ("read while it could still make one", [A], [], "", 101.5, {"a": "cannot tell until 102"}),
    ("two unknown jobs for one submit", [A], [("r1", 100.2), ("r2", 100.8)], "", 200.0,
     {"a": "cannot tell"}),
    ("two requests, one job made while both were out", [A, B], [("r1", 101.5)], "", 200.0,
     {"a": "cannot tell", "b": "cannot tell"}),
    ("two requests, two jobs made while both were out", [A, B], [("r1", 101.2), ("r2", 101.8)],
     "", 200.0, {"a": "cannot tell", "b": "cannot tell"}),
    ("two requests, each job in one window only", [A, B], [("r1", 99.5), ("r2", 104.0)], "",
     200.0, {"a": "found r1", "b": "found r2"}),
    ("two requests, the only way to share them", [A, B], [("r1", 101.5), ("r2", 104.5)], "",
     200.0, {"a": "found r1", "b": "found r2"}),
    ("two takes, one job made while both were out", [T1, T2], [("r1", 101.5)], "", 200.0,
     {"t1": "found r1", "t2": "not created"}),
    ("two takes, two jobs made", [T1, T2], [("r1", 101.2), ("r2", 101.8)], "", 200.0,
     {"t1": "found r1", "t2": "found r2"}),
    ("two takes, one job each window, the later first", [T1, T2], [("r2", 104.5), ("r1", 99.5)],
     "", 200.0, {"t1": "found r1", "t2": "found r2"}),
    ("two takes, three jobs made", [T1, T2], [("r1", 100), ("r2", 101.5), ("r3", 101.8)], "",
     200.0, {"t1": "cannot tell", "t2": "cannot tell"}),
    ("two takes, one still open", [T1, T2], [("r1", 101.5)], "", 104.5,
     {"t1": "cannot tell until 105", "t2": "cannot tell until 105"}),
    ("another manifest's submit may own it", [A, OTHER], [("r1", 101.5)], "", 200.0,
     {"a": "cannot tell"}),
    ("another manifest's submit, out of its window", [A, OTHER], [("r1", 99.2)], "", 200.0,
     {"a": "found r1"}),
    ("another manifest's submit, no unknown job", [A, OTHER], [("r1", 100.8)], "r1", 200.0,
     {"a": "not created"}),
]
# fmt: on


@pytest.mark.parametrize(("claims", "listed", "known", "at", "expected"),
                         [c[1:] for c in TIME_CASES], ids=[c[0] for c in TIME_CASES])  # fmt: skip
def test_by_time(
    claims: list[Lost],
    listed: list[tuple[str, float]],
    known: str,
    at: float,
    expected: dict[str, str],
) -> None:
    facts = looked(*(Seen(r, t) for r, t in listed), at=at, known=known)
    verdicts = by_time(claims, facts, settings=S)
    assert {k: kind(v) for k, v in verdicts.items()} == expected
    found = [v.remote_id for v in verdicts.values() if isinstance(v, Found)]
    assert len(found) == len(set(found))  # one remote job, one local job


def test_by_time_takes_the_wire_time_when_a_submit_was_cut_by_a_kill() -> None:
    # Lost when the next run started (300), but it left at 100: a job made at 250 is not its.
    killed = lost("k", 100.0, 300.0)
    verdicts = by_time([killed], looked(Seen("r1", 250.0), at=400.0), settings=S)
    assert kind(verdicts["k"]) == "not created"
    verdicts = by_time([killed], looked(Seen("r1", 105.0), at=400.0), settings=S)
    assert kind(verdicts["k"]) == "found r1"


def test_by_time_when_the_list_does_not_reach_back_to_the_submit() -> None:
    verdicts = by_time([A], looked(at=200.0, since=150.0), settings=S)
    assert kind(verdicts["a"]) == "cannot tell"


def test_by_time_a_listed_job_that_does_not_say_when_it_was_made_settles_nothing() -> None:
    verdicts = by_time([A], looked(Seen("r1", None), at=200.0), settings=S)
    assert kind(verdicts["a"]) == "cannot tell"


def test_by_time_too_many_lost_at_once_to_tell_apart() -> None:
    takes = [lost(f"t{i}", 100.0 + i / 10, 101.0, body="same") for i in range(8)]
    verdicts = by_time(takes, looked(Seen("r1", 100.5), at=200.0), settings=S)
    assert {kind(v) for v in verdicts.values()} == {"cannot tell"}


def test_by_time_never_decides_another_manifests_submit() -> None:
    verdicts = by_time([OTHER], looked(at=200.0), settings=S)
    assert verdicts == {}


# --- APIFrame: the replay --------------------------------------------------------------------


@pytest.mark.parametrize(("age", "replays"), [(10.0, True), (3599.0, True), (3601.0, False)])
def test_by_replay_within_the_idempotency_window(age: float, replays: bool) -> None:
    verdict = by_replay(lost("k", 100.0, 101.0), now=100.0 + age, settings=S)
    assert isinstance(verdict, Replay) is replays
    if not replays:
        assert isinstance(verdict, CannotTell) and verdict.retry_at is None


# --- the way out ------------------------------------------------------------------------------

REMEDY_CASES = [
    (Method.NONE, None, False),
    (Method.REQUEST_ID, None, True),
    (Method.REQUEST_ID, CannotTell("not yet", retry_at=160.0), True),
    (Method.TIME, CannotTell("two candidates"), False),
    (Method.REPLAY, CannotTell("older than a day"), False),
]


@pytest.mark.parametrize(("method", "verdict", "automatic"), REMEDY_CASES)
def test_remedy(method: Method, verdict: CannotTell | None, automatic: bool) -> None:
    way = remedy(method, verdict, title="X", manifest="m.yaml", key="0123456789abcdef")
    assert way.automatic is automatic
    if automatic:
        assert "grokbatch reconcile m.yaml" in way.text and not way.commands
    else:
        assert way.commands == (
            "grokbatch attach m.yaml --job 0123456789ab --remote-id ID",
            "grokbatch not-created m.yaml --job 0123456789ab",
        )
