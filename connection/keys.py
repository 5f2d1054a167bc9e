"""The payload encryption keys: `ESCALATOR_CODEC_KEYS` or a keys file, checked before anything starts.

A key is `KEYID:BASE64` where BASE64 decodes to 32 bytes (AES-256). Several keys rotate: new
payloads are encrypted under the last one given; payloads written under an earlier one decode
with it as long as it stays in the list. Key material never appears in an error or a log line.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

KEY_BYTES = 32  # AES-256
KEY_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
ENV_KEYS = "ESCALATOR_CODEC_KEYS"
ENV_KEYS_FILE = "ESCALATOR_CODEC_KEYS_FILE"


class CodecKeyError(Exception):
    """Keys that cannot be used, in one line naming the source and the pair (never the key)."""


@dataclass(frozen=True)
class CodecKeys:
    """Key id -> 32-byte key, in the order given; `current` (the last) encrypts new payloads."""

    keys: Mapping[str, bytes]
    source: str

    @property
    def current(self) -> str:
        return list(self.keys)[-1]

    def describe(self) -> str:
        return f"{len(self.keys)} key(s) from {self.source}; new payloads under {self.current!r}"


def parse_keys(pairs: list[str], source: str) -> CodecKeys:
    """`["k1:BASE64", ...]` -> CodecKeys; raises CodecKeyError for the first bad pair, by number."""
    keys: dict[str, bytes] = {}
    for number, pair in enumerate(pairs, 1):
        key_id, colon, encoded = pair.strip().partition(":")
        where = f"{source}: key {number}"
        if not colon:
            raise CodecKeyError(f"{where}: expected KEYID:BASE64KEY (no ':' found)")
        if not KEY_ID.fullmatch(key_id):
            raise CodecKeyError(f"{where}: key id {key_id[:70]!r} must be 1-64 letters, digits, '.', '_' or '-'")
        if key_id in keys:
            raise CodecKeyError(f"{where}: key id {key_id!r} is given twice")
        try:
            raw = base64.b64decode(encoded.strip(), validate=True)
        except (binascii.Error, ValueError):
            raise CodecKeyError(f"{where} ({key_id}): the key is not valid base64") from None
        if len(raw) != KEY_BYTES:
            raise CodecKeyError(f"{where} ({key_id}): the key is {len(raw)} bytes; AES-256 needs {KEY_BYTES} "
                                "(make one with `escalator codec-key new`)")
        keys[key_id] = raw
    if not keys:
        raise CodecKeyError(f"{source}: no keys in it")
    return CodecKeys(keys, source)


def load_keys(keys_file: str | None = None, environ: Mapping[str, str] | None = None) -> CodecKeys | None:
    """The keys from `--codec-keys-file`, else ESCALATOR_CODEC_KEYS_FILE, else ESCALATOR_CODEC_KEYS;
    None when none is set (payloads are not encrypted). Raises CodecKeyError."""
    env = os.environ if environ is None else environ
    if keys_file is None and env.get(ENV_KEYS_FILE) and env.get(ENV_KEYS):
        raise CodecKeyError(f"{ENV_KEYS_FILE} and {ENV_KEYS} are both set: keep one")
    if keys_file is not None or env.get(ENV_KEYS_FILE):
        name = "--codec-keys-file" if keys_file is not None else ENV_KEYS_FILE
        path = Path(keys_file if keys_file is not None else env[ENV_KEYS_FILE])
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise CodecKeyError(f"{name}: cannot read {path}: {exc.strerror}") from None
        except UnicodeDecodeError:
            raise CodecKeyError(f"{name}: {path} is not a text file of KEYID:BASE64KEY lines") from None
        lines = [line for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
        return parse_keys(lines, str(path))
    if env.get(ENV_KEYS, "").strip():
        return parse_keys(env[ENV_KEYS].split(","), ENV_KEYS)
    return None


def new_key(key_id: str) -> str:
    """A fresh `KEYID:BASE64` pair from the OS's random source."""
    if not KEY_ID.fullmatch(key_id):
        raise CodecKeyError(f"key id {key_id[:70]!r} must be 1-64 letters, digits, '.', '_' or '-'")
    return f"{key_id}:{base64.b64encode(secrets.token_bytes(KEY_BYTES)).decode()}"
