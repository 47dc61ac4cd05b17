"""An emulator of every provider's API, on loopback: free, fast, strict, with faults to dial.

Each provider lives under its own prefix, which is its base URL: with the emulator on port
8765, `http://127.0.0.1:8765/aimlapi` is the AI/ML API, `.../apiframe` APIFrame, and so on
for `pixeldojo`, `aivideoapi`, `vydra` and `xai`. Per provider it accepts only its key in
its own auth header, validates bodies as the real API does, walks jobs through that
provider's own status names over `latency` seconds, answers in its exact response and error
shapes (including what the live APIs answer beyond their documented shapes, such as xAI's
202 polls), charges and refunds credits at its prices, answers "insufficient credits" when
the balance runs out, injects 429s, 5xx (a submit's may still have created the job), failed
and moderated jobs and lost answers at the configured rates, honours APIFrame's
Idempotency-Key, serves the list and lookup endpoints the providers document, POSTs AI
Video API's callback_url (loopback only) when a task ends, and serves a real output file
per job (an MP4 of the asked size and duration, or a PNG) until `url_ttl` seconds after the
job ended. With `state_file` it keeps everything in SQLite across restarts.

It is written from `providers.md`, not from grokbatch's adapters, so each checks the other.

Admin endpoints (for tests, benchmarks and curious users):

- `GET /_emulator/stats`: `{"providers": {name: {...}}, "totals": {...}}`, see `stats.py`
  and the README for every field;
- `POST /_emulator/config` with a JSON object of `EmulatorConfig` fields to change live, e.g.
  `{"failure_rate": 0.2, "latency": 0}` (`GET` shows the settings; keys are never echoed);
- `POST /_emulator/reset`: forget every job, counter and idempotency key; balances back to
  the configured credits; randomness restarts from the seed.

Output files are served at `/_files/<provider>/<job id>.mp4` (or `.png`) with `expires` and
`sig` query parameters (`files.py`).
"""

from __future__ import annotations

import sys
import threading
import time
from types import TracebackType
from typing import Any

from .backend import Backend
from .config import DEFAULT_KEYS, PROVIDERS, EmulatorConfig
from .server import EmulatorServer

__all__ = ["DEFAULT_KEYS", "PROVIDERS", "Emulator", "EmulatorConfig", "serve"]


class Emulator:
    """The emulator on a background thread: `with Emulator() as emu: emu.base_url("xai")`."""

    def __init__(
        self, config: EmulatorConfig | None = None, *, host: str = "127.0.0.1", port: int = 0
    ) -> None:
        self.config = config if config is not None else EmulatorConfig()
        self.backend = Backend(self.config)
        self._address = (host, port)
        self._server: EmulatorServer | None = None
        self._thread: threading.Thread | None = None
        self.url = ""

    def start(self) -> Emulator:
        server = EmulatorServer(self._address, self.backend)
        host, port = server.server_address[:2]
        self.url = f"http://{host!s}:{port}"
        self.backend.root = self.url
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self._thread.start()
        return self

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        self.backend.ledger.close()

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def base_url(self, provider: str) -> str:
        if provider not in PROVIDERS:
            raise KeyError(f"the emulator has no provider {provider!r}")
        return f"{self.url}/{provider}"

    def api_key(self, provider: str) -> str:
        """The key this emulator accepts for `provider` (in that provider's auth header)."""
        self.base_url(provider)  # the same KeyError for an unknown name
        return self.config.key_for(provider)

    def stats(self) -> dict[str, Any]:
        return self.backend.ledger.stats()

    def configure(self, **changes: Any) -> None:
        self.backend.configure(changes)

    def set_credits(self, provider: str, credits: float) -> None:
        self.base_url(provider)  # the same KeyError for an unknown name
        self.backend.ledger.set_balance(provider, credits)

    def reset(self) -> None:
        self.backend.reset()


def serve(config: EmulatorConfig, *, host: str = "127.0.0.1", port: int = 8400) -> None:
    """Serve until Ctrl-C, printing every provider's base URL and the key it accepts."""
    with Emulator(config, host=host, port=port) as emu:
        out = sys.stdout
        print(f"grokbatch emulator on {emu.url} (Ctrl-C to stop)", file=out)
        for name in PROVIDERS:
            env = f"GROKBATCH_{name.upper()}_BASE_URL"
            # A key given with --key is the user's: it is not printed back.
            key = "<your --key>" if config.api_key is not None else emu.api_key(name)
            line = f"export {env}={emu.base_url(name)} {name.upper()}_API_KEY={key}"
            print(f"  {name:<11} {line}", file=out)
        if config.state_file is not None:
            print(f"  state file  {config.state_file}", file=out)
        print(f"  stats       {emu.url}/_emulator/stats", file=out, flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            print("stopped", file=out)
