"""API keys: a JSON file holding each key's name, scopes and SHA-256 hash, never the key itself.

Shape of the file (written by `escalator api-key create`):

    {"keys": [{"name": "helpdesk", "sha256": "<64 hex>", "scopes": ["read", "write"],
               "created_at": "2026-11-29T20:00:00+00:00"}]}

A key is `esk_` and 43 characters of URL-safe base64 (32 random bytes), so a plain SHA-256 is
enough to store it (as GitHub and Stripe keep tokens): there is nothing to brute-force.
Scopes: `read` (GET), `write` (open tickets, send events), `admin` (every scope, and the key
list). The file is read again when it changes, so a key added or removed takes effect without a
restart.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import structlog

log = structlog.get_logger("escalator.api")

SCOPES = ("read", "write", "admin")
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
PREFIX = "esk_"
ENV_FILE = "ESCALATOR_API_KEYS_FILE"


class KeysFileError(ValueError):
    """A keys file that cannot be used, said in one line naming the file and the entry."""


@dataclass(frozen=True)
class ApiKey:
    name: str
    scopes: frozenset[str]
    created_at: str

    def allows(self, scope: str) -> bool:
        return scope in self.scopes or "admin" in self.scopes


def digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def parse_scopes(text: str) -> list[str]:
    """`read,write` -> ["read", "write"]; ValueError naming the unknown scope."""
    scopes = [s.strip() for s in text.split(",") if s.strip()]
    unknown = [s for s in scopes if s not in SCOPES]
    if unknown or not scopes:
        raise ValueError(f"--scope: {', '.join(unknown) or 'empty'}: scopes are {', '.join(SCOPES)} (comma-separated)")
    return sorted(set(scopes), key=SCOPES.index)


def read_keys(path: Path) -> dict[str, ApiKey]:
    """{sha256: key} of the file; KeysFileError for a missing, malformed or inconsistent file."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise KeysFileError(f"{path}: no such file (escalator api-key create NAME --scope read,write --keys-file {path} makes it)") from None
    except OSError as exc:
        raise KeysFileError(f"{path}: cannot read it: {exc.strerror}") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise KeysFileError(f"{path}: not a keys file (JSON): {exc}") from None
    entries = doc.get("keys") if isinstance(doc, dict) else None
    if not isinstance(entries, list):
        raise KeysFileError(f"{path}: keys: must be a list of {{name, sha256, scopes}}")
    keys: dict[str, ApiKey] = {}
    names: set[str] = set()
    for n, entry in enumerate(entries):
        where = f"{path}: keys[{n}]"
        if not isinstance(entry, dict):
            raise KeysFileError(f"{where}: must be an object {{name, sha256, scopes}}")
        name, hashed, scopes = entry.get("name"), entry.get("sha256"), entry.get("scopes")
        if not isinstance(name, str) or not NAME.fullmatch(name):
            raise KeysFileError(f"{where}.name: must be 1-64 letters, digits and . _ -")
        if name in names:
            raise KeysFileError(f"{where}.name: {name!r} is used twice")
        if not isinstance(hashed, str) or not re.fullmatch(r"[0-9a-f]{64}", hashed):
            raise KeysFileError(f"{where}.sha256: must be the key's SHA-256 in 64 lower-case hex digits")
        if not isinstance(scopes, list) or not scopes or any(s not in SCOPES for s in scopes):
            raise KeysFileError(f"{where}.scopes: must be a non-empty list of {', '.join(SCOPES)}")
        names.add(name)
        keys[hashed] = ApiKey(name, frozenset(scopes), str(entry.get("created_at", "")))
    return keys


def create_key(path: Path, name: str, scopes: list[str], now: datetime | None = None) -> str:
    """Add a new key named `name` to the file (made if missing, mode 0600) and return the key.

    ValueError when the name is malformed or taken; KeysFileError when the file is not a keys file."""
    if not NAME.fullmatch(name):
        raise ValueError(f"NAME: {name!r} must be 1-64 letters, digits and . _ -")
    existing = read_keys(path) if path.exists() else {}
    if any(k.name == name for k in existing.values()):
        raise ValueError(f"NAME: a key named {name!r} is already in {path} (delete its entry to replace it)")
    doc = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {"keys": []}
    key = PREFIX + secrets.token_urlsafe(32)
    doc["keys"].append({"name": name, "sha256": digest(key), "scopes": scopes, "created_at": (now or datetime.now(UTC)).isoformat(timespec="seconds")})
    write_private(path, doc)
    return key


def write_private(path: Path, doc: dict) -> None:
    """Write a secrets file as JSON, mode 0600, all or nothing (a crash never leaves half a file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        json.dump(doc, out, indent=2)
        out.write("\n")
    os.replace(partial, path)


class KeyRing:
    """The keys of a file, read again when the file changes; a file made bad keeps the last good keys."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._stamp = self._stat()
        self._keys = read_keys(path)  # the first read must succeed: KeysFileError at startup
        self.problem: str | None = None

    def _stat(self) -> tuple[int, int] | None:
        try:
            st = self.path.stat()
        except OSError:
            return None
        return st.st_mtime_ns, st.st_size

    def lookup(self, presented: str) -> ApiKey | None:
        self.refresh()
        return self._keys.get(digest(presented))

    def refresh(self) -> None:
        """Read the file again if it changed since it was last read."""
        stamp = self._stat()
        if stamp != self._stamp:
            self._stamp = stamp
            try:
                self._keys, self.problem = read_keys(self.path), None
                log.info("keys file read again", keys=len(self._keys), path=str(self.path))
            except KeysFileError as exc:
                self.problem = str(exc)  # reported by /v1/readyz too; the old keys stay in force
                log.warning("keys file is not usable; the keys read before stay in force", problem=self.problem)

    def all(self) -> list[ApiKey]:
        return sorted(self._keys.values(), key=lambda k: k.name)
