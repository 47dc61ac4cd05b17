"""A stand-in `scheduler.Lister` for Vydra and APIFrame, until their adapters list jobs.

It reads the emulator's list endpoints (`GET /api/v1/jobs?status=completed` at Vydra,
`GET /v2/jobs?status=COMPLETED` at APIFrame: the same rows their polls answer) and hands
each row to the provider's own `parse_poll`. The tests and benchmarks use it to measure
what listing saves; the adapters' `list_request` / `parse_list` will replace it.
"""

from __future__ import annotations

from collections.abc import Mapping

import httpx

from grokbatch import providers
from grokbatch.providers.client import ProviderClient
from grokbatch.providers.wire import HttpRequest, HttpResponse, Polled

# provider → (the list request of its newest completed jobs, the key holding its rows)
LISTS = {
    "vydra": (
        HttpRequest("GET", "/api/v1/jobs", params={"status": "completed", "limit": "100"}),
        "data",
    ),
    "apiframe": (
        HttpRequest("GET", "/v2/jobs", params={"status": "COMPLETED", "limit": "100"}),
        "jobs",
    ),
}


class EmulatorLister:
    """One list request per call, through a ProviderClient (its key, its errors)."""

    def __init__(self, provider: str, base_url: str, api_key: str) -> None:
        self.provider = providers.get(provider)
        self.base_url = base_url
        self.api_key = api_key
        self.calls = 0

    async def recently_finished(self) -> Mapping[str, Polled]:
        self.calls += 1
        request, rows_key = LISTS[self.provider.name]
        async with httpx.AsyncClient(timeout=10.0) as http:
            client = ProviderClient(
                self.provider, http=http, base_url=self.base_url, api_key=self.api_key
            )
            answer = await client.send(request)
        found: dict[str, Polled] = {}
        for row in answer.body.get(rows_key) or []:
            if isinstance(row, dict) and isinstance(row.get("id"), str):
                found[row["id"]] = self.provider.parse_poll(HttpResponse(200, row))
        return found
