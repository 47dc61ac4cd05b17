"""The PostgreSQL backend: chosen by a URL, the same interface, and a password kept secret."""

from __future__ import annotations

import traceback
import urllib.parse
from pathlib import Path

import pytest
from click.testing import CliRunner

from grokbatch import api
from grokbatch.cli import main
from grokbatch.emulator import Emulator
from grokbatch.errors import InputError, StateUnavailableError
from grokbatch.state import DatabaseURL, open_existing, open_store
from grokbatch.state.migrations import MIGRATIONS
from grokbatch.state.pgschema import POSTGRES

from .backends import postgres_db, postgres_url  # noqa: F401  (postgres_db: a fixture)
from .conftest import FAST, Recorder, environ_for

MANIFEST = """
name: pg
prompts:
  - {id: lamp, template: "Lamp {{ n }}"}
provider: apiframe
matrix:
  n: [1, 2, 3, 4]
defaults: {duration: 6}
output: {path: "{{ n }}.mp4"}
limits: {max_credits: 100}
"""


def password_of(url: str) -> str:
    password = urllib.parse.urlsplit(url).password
    assert password, "the test server's URL carries a password (see .ci/postgres)"
    return urllib.parse.unquote(password)


def test_every_migration_has_a_postgresql_form_of_the_same_name() -> None:
    assert [fn.__name__ for fn in MIGRATIONS if fn.__name__ not in POSTGRES] == []


def test_a_url_shows_itself_with_the_password_masked() -> None:
    url = DatabaseURL("postgresql://ann:s3cr%40t@db.example:5433/batches?password=other&x=1")
    for shown in (str(url), repr(url), f"{url}", f"{url!r}"):
        assert "s3cr" not in shown and "other" not in shown
        assert "ann:***@db.example:5433/batches" in shown
    assert url.scrub("auth failed for s3cr@t and s3cr%40t") == "auth failed for *** and ***"


@pytest.mark.emulator(latency=0)
def test_a_run_on_postgresql_keeps_the_password_out_of_the_state_and_the_output(
    tmp_path: Path,
    emulator: Emulator,
    postgres_db: str,  # noqa: F811
) -> None:
    manifest = tmp_path / "m.yaml"
    manifest.write_text(MANIFEST, encoding="utf-8")
    # Chosen through GROKBATCH_DB, as a library user or a CI job would.
    env = environ_for(emulator) | {"GROKBATCH_DB": postgres_db}
    summary = api.run(
        manifest,
        output_dir=tmp_path / "out",
        environ=env,
        sandbox=False,
        reporter=Recorder(),
        tuning=FAST,
    )
    assert summary.exit_code == 0 and summary.counts == {"done": 4}
    assert emulator.stats()["providers"]["apiframe"]["paid"] == 4
    secret = password_of(postgres_db)
    with open_store(postgres_db) as store:
        assert {r.state.value for r in store.jobs("pg")} == {"done"}
        assert store.usage("pg")["apiframe"].spent_credits == 40.0
        # The budget totals the plpgsql trigger keeps equal the sums over the jobs.
        assert sum(r.spent_credits for r in store.jobs("pg")) == 40.0
        texts = [str(e) for e in store.events("pg")] + [repr(r) for r in store.runners()]
        texts += [repr(r) for r in store.jobs("pg")]
    assert texts and not any(secret in t for t in texts)
    result = CliRunner().invoke(
        main, ["status", str(manifest), "--db", postgres_db, "--all"], env=env
    )
    assert result.exit_code == 0, result.output
    assert "4 done" in result.output and secret not in result.output


def test_a_refused_password_is_reported_without_it() -> None:
    url = postgres_url()
    parts = urllib.parse.urlsplit(url)
    wrong = "not-the-password-4242"
    bad = parts._replace(netloc=f"{parts.username}:{wrong}@{parts.hostname}:{parts.port}")
    with pytest.raises(StateUnavailableError) as caught:
        open_store(urllib.parse.urlunsplit(bad))
    shown = "".join(traceback.format_exception(caught.value))
    assert "password authentication failed" in shown
    assert wrong not in shown and f"{parts.username}:***@" in str(caught.value)


def test_a_database_never_run_is_reported_and_nothing_is_created(
    tmp_path: Path,
    postgres_db: str,  # noqa: F811
) -> None:
    manifest = tmp_path / "m.yaml"
    manifest.write_text(MANIFEST, encoding="utf-8")
    assert open_existing(postgres_db) is None
    with pytest.raises(InputError, match=r"no state database at postgresql://.*:\*\*\*@") as e:
        api.status(manifest, db=postgres_db)
    assert password_of(postgres_db) not in str(e.value)
    assert open_existing(postgres_db) is None  # still nothing there


def test_without_psycopg_the_error_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from grokbatch.state import postgres

    monkeypatch.setattr(postgres, "psycopg", None)
    with pytest.raises(InputError, match=r"pip install 'grokbatch\[postgres\]'") as e:
        open_store("postgresql://ann:hunter2@127.0.0.1:1/x")
    assert "hunter2" not in str(e.value)


def test_grokbatch_db_names_the_database_but_never_in_the_sandbox(tmp_path: Path) -> None:
    from grokbatch.workspace import open_workspace

    manifest = tmp_path / "m.yaml"
    manifest.write_text(MANIFEST, encoding="utf-8")
    url = "postgresql://ann:hunter2@db.example/batches"
    ws = open_workspace(manifest, environ={"GROKBATCH_DB": url})
    assert isinstance(ws.db, DatabaseURL) and ws.db.secret == url
    assert "hunter2" not in f"{ws} {ws.db!r}"
    ws = open_workspace(manifest, environ={"GROKBATCH_DB": str(tmp_path / "shared.db")})
    assert ws.db == tmp_path / "shared.db"
    # An emulated clip must never land in the real state: the sandbox keeps its own.
    ws = open_workspace(manifest, sandbox=True, environ={"GROKBATCH_DB": url})
    assert ws.db == tmp_path / ".grokbatch" / "sandbox.db"
    ws = open_workspace(manifest, db=str(tmp_path / "x.db"), environ={"GROKBATCH_DB": url})
    assert ws.db == tmp_path / "x.db"  # --db wins
