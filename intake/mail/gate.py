"""Who may hand mail to the intake: gateway addresses (CIDR), or SMTP AUTH against a users file.

The users file holds scrypt hashes only (`escalator mail-user add NAME --users-file FILE`
prints the password once):

    {"users": [{"name": "gateway", "scrypt": "<salt hex>$<hash hex>"}]}
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import secrets
from pathlib import Path

import structlog
from aiosmtpd.smtp import AuthResult, LoginPassword

from intake.api_keys import NAME, write_private

SCRYPT = {"n": 2**14, "r": 8, "p": 1}
log = structlog.get_logger("escalator.mail")


class UsersFileError(ValueError):
    """A users file that cannot be used, in one line."""


def _hash(password: str, salt: bytes) -> bytes:
    return hashlib.scrypt(password.encode(), salt=salt, dklen=32, **SCRYPT)


def read_users(path: Path) -> dict[str, str]:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        users = {u["name"]: u["scrypt"] for u in doc["users"]}
    except OSError as exc:
        raise UsersFileError(f"{path}: cannot read it: {exc.strerror}") from None
    except (ValueError, KeyError, TypeError) as exc:
        raise UsersFileError(f"{path}: not a users file ({{\"users\": [{{name, scrypt}}]}}): {exc}") from None
    for name, hashed in users.items():
        salt, _, digest = hashed.partition("$")
        try:
            bytes.fromhex(salt), bytes.fromhex(digest)
        except ValueError:
            raise UsersFileError(f"{path}: user {name!r}: scrypt must be <salt hex>$<hash hex>") from None
    return users


def add_user(path: Path, name: str) -> str:
    """Add a user with a new random password (returned, to be shown once); ValueError for a bad or taken name."""
    if not NAME.fullmatch(name):
        raise ValueError(f"NAME: {name!r} must be 1-64 letters, digits and . _ -")
    users = read_users(path) if path.exists() else {}
    if name in users:
        raise ValueError(f"NAME: {name!r} is already in {path}")
    password = secrets.token_urlsafe(24)
    salt = secrets.token_bytes(16)
    users[name] = f"{salt.hex()}${_hash(password, salt).hex()}"
    write_private(path, {"users": [{"name": n, "scrypt": h} for n, h in users.items()]})
    return password


class Gate:
    """The allowed peers and users; `authenticate` is aiosmtpd's authenticator."""

    def __init__(self, allow_from: list[str], users: dict[str, str]) -> None:
        try:
            self.networks = [ipaddress.ip_network(cidr, strict=False) for cidr in allow_from]
        except ValueError as exc:
            raise ValueError(f"--allow-from: {exc}") from None
        self.users = users

    def peer_allowed(self, peer: object) -> bool:
        host = peer[0] if isinstance(peer, tuple) and peer else None
        try:
            address = ipaddress.ip_address(host)
        except (TypeError, ValueError):
            return False
        return any(address in network for network in self.networks)

    def authenticate(self, server, session, envelope, mechanism: str, auth_data) -> AuthResult:
        if not isinstance(auth_data, LoginPassword):
            return AuthResult(success=False, handled=False)
        name = auth_data.login.decode(errors="replace")
        hashed = self.users.get(name)
        if hashed is None:
            _hash(auth_data.password.decode(errors="replace"), b"\0" * 16)  # the same time for an unknown user
            ok = False
        else:
            salt, _, digest = hashed.partition("$")
            ok = hmac.compare_digest(_hash(auth_data.password.decode(errors="replace"), bytes.fromhex(salt)), bytes.fromhex(digest))
        if not ok:  # the password is never logged; the name is, as sent
            log.warning("mail refused: SMTP AUTH failed", user=name[:64], peer=str(session.peer[0]) if session.peer else "?")
        return AuthResult(success=ok, handled=False, auth_data=name if ok else None)
