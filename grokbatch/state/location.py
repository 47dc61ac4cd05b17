"""Where a state database lives: an SQLite file, or a PostgreSQL server named by a URL.

The invariant: a PostgreSQL URL's password is used to connect and for nothing else. A
`DatabaseURL` shows itself (str, repr, f-strings, error messages) with the password
masked, and `scrub` masks it in any text a driver produced, so it never reaches an error,
a log, a report or the state itself.
"""

from __future__ import annotations

import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path

SCHEMES = ("postgresql://", "postgres://")
MASK = "***"


def is_database_url(value: str | Path) -> bool:
    """Whether `value` names a PostgreSQL server rather than an SQLite file."""
    return isinstance(value, str) and value.strip().lower().startswith(SCHEMES)


@dataclass(frozen=True)
class DatabaseURL:
    """A PostgreSQL URL (postgresql://user:password@host:port/dbname?options)."""

    secret: str = field(repr=False)  # the URL as given, password included: for connecting

    def __str__(self) -> str:
        return redact(self.secret)

    def __repr__(self) -> str:
        return f"DatabaseURL({redact(self.secret)!r})"

    def passwords(self) -> list[str]:
        """The password as written in the URL and as decoded, to mask in a driver's text."""
        found: list[str] = []
        try:
            parts = urllib.parse.urlsplit(self.secret)
            raw = parts.netloc.rpartition("@")[0].partition(":")[2] if "@" in parts.netloc else ""
            query = urllib.parse.parse_qs(parts.query)
        except ValueError:
            return found
        candidates = [raw, urllib.parse.unquote(raw), *query.get("password", [])]
        for value in candidates:
            if value and value not in found:
                found.append(value)
        return sorted(found, key=len, reverse=True)

    def scrub(self, text: str) -> str:
        """`text` with the password masked wherever it appears."""
        for password in self.passwords():
            text = text.replace(password, MASK)
        return text


def redact(url: str) -> str:
    """The URL with its password (in the authority or as ?password=) masked."""
    try:
        parts = urllib.parse.urlsplit(url.strip())
    except ValueError:
        return f"{url.partition('://')[0]}://{MASK}"  # unparsable: show nothing of it
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, host = netloc.rpartition("@")
        user, colon, _ = userinfo.partition(":")
        netloc = f"{user}:{MASK}@{host}" if colon else f"{user}@{host}"
    query = "&".join(
        f"{k}={MASK}" if k == "password" else f"{k}={v}"
        for k, v in urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
    )
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))
