"""`grokbatch emulate`: the providers' APIs on loopback, for scripts and manual runs.

cli.py registers it, so the command line stays one module per concern.
"""

from __future__ import annotations

import click

from .cli_options import handle_errors
from .errors import InputError


@click.command()
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=8765,
    show_default=True,
    help="Port on 127.0.0.1 (0: any free port).",
)
@click.option(
    "--latency",
    type=click.FloatRange(0),
    default=5.0,
    show_default=True,
    help="Seconds a job takes from submit to done.",
)
@click.option(
    "--failure-rate",
    type=click.FloatRange(0, 1),
    default=0.0,
    help="Fraction of jobs that fail (refunded where the provider refunds).",
)
@click.option(
    "--moderation-rate",
    type=click.FloatRange(0, 1),
    default=0.0,
    help="Fraction of jobs refused by moderation.",
)
@click.option(
    "--rate-limit-rate",
    type=click.FloatRange(0, 1),
    default=0.0,
    help="Fraction of requests answered 429 (with Retry-After where sent).",
)
@click.option(
    "--server-error-rate",
    type=click.FloatRange(0, 1),
    default=0.0,
    help="Fraction of requests answered 5xx (a submit's may still have created the job, "
    "except APIFrame's 503).",
)
@click.option(
    "--lost-response-rate",
    type=click.FloatRange(0, 1),
    default=0.0,
    help="Fraction of submits accepted and charged whose answer is lost.",
)
@click.option(
    "--credits",
    type=click.FloatRange(0),
    default=None,
    help="Starting balance of every provider, in its own credits (USD for xai); "
    "default: about 100,000 USD worth each.",
)
@click.option(
    "--url-ttl",
    type=click.FloatRange(0),
    default=3600.0,
    show_default=True,
    help="Seconds before an output URL expires.",
)
@click.option("--seed", type=int, help="Make every random fault reproducible.")
@click.option(
    "--latency-jitter",
    type=click.FloatRange(0),
    default=0.0,
    help="Draw each job's latency uniformly within --latency ± this many seconds.",
)
@click.option(
    "--key",
    envvar="GROKBATCH_EMULATOR_KEY",
    help="The one API key every provider accepts (default: a documented key per provider).",
)
@click.option(
    "--xai-empty-202-rate",
    type=click.FloatRange(0, 1),
    default=0.5,
    show_default=True,
    help="Fraction of xAI's 202 'still in progress' polls that have an empty body.",
)
@click.option(
    "--log-delay",
    type=click.FloatRange(0),
    default=0.0,
    help="Seconds after a generation completes before AI/ML API's /v2/logs shows it.",
)
@click.option(
    "--state-file",
    type=click.Path(dir_okay=False),
    help="Keep jobs, balances and keys in this SQLite file across restarts.",
)
@handle_errors
def emulate(
    port: int,
    latency: float,
    failure_rate: float,
    moderation_rate: float,
    rate_limit_rate: float,
    server_error_rate: float,
    lost_response_rate: float,
    credits: float | None,
    url_ttl: float,
    seed: int | None,
    latency_jitter: float,
    key: str | None,
    xai_empty_202_rate: float,
    log_delay: float,
    state_file: str | None,
) -> None:
    """Serve every provider's API on loopback, for free, with faults you can dial.

    Each provider lives under its own prefix: http://127.0.0.1:PORT/aimlapi is the AI/ML
    API's base URL. Point grokbatch at it with GROKBATCH_<NAME>_BASE_URL.
    """
    from .emulator import EmulatorConfig, serve

    if key is not None and not key.strip():
        raise InputError("--key: the key must not be empty")
    serve(
        EmulatorConfig(
            latency=latency,
            latency_jitter=latency_jitter,
            failure_rate=failure_rate,
            moderation_rate=moderation_rate,
            rate_limit_rate=rate_limit_rate,
            server_error_rate=server_error_rate,
            lost_response_rate=lost_response_rate,
            credits=credits,
            url_ttl=url_ttl,
            seed=seed,
            api_key=key,
            xai_empty_202_rate=xai_empty_202_rate,
            log_delay=log_delay,
            state_file=state_file,
        ),
        port=port,
    )
