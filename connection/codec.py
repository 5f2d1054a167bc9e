"""Payload encryption: AES-256-GCM, a key id in each payload, and the data converter that uses it.

The format is Temporal's samples' (`encoding: binary/encrypted`, `encryption-key-id`, the data a
12-byte nonce then the ciphertext of the serialized payload), so their Go and TypeScript codec
servers read our histories too. Search attributes and workflow ids never pass through a codec:
they stay plain ids and enums (docs/operations.md).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterable

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from temporalio.api.common.v1 import Payload
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import DataConverter, DefaultFailureConverterWithEncodedAttributes, PayloadCodec

from connection.keys import CodecKeys

ENCODING = b"binary/encrypted"
KEY_ID = "encryption-key-id"
NONCE_BYTES = 12
NO_KEYS = "the ticket's payloads are encrypted and no codec keys are loaded: set ESCALATOR_CODEC_KEYS or --codec-keys-file"


class UndecryptablePayload(Exception):
    """A payload this process holds no key for. In a worker it fails the workflow task, which
    Temporal retries until a worker with the key polls: the ticket waits, it never fails."""


class EncryptionCodec(PayloadCodec):
    """Encrypts every payload under the newest key; decrypts under the key its metadata names.

    Payloads that are not encrypted pass through `decode` unchanged, so tickets opened before
    encryption was turned on keep running.
    """

    def __init__(self, keys: CodecKeys) -> None:
        self._keys = keys
        self._ciphers = {key_id: AESGCM(key) for key_id, key in keys.keys.items()}

    async def encode(self, payloads: Iterable[Payload]) -> list[Payload]:
        key_id = self._keys.current
        cipher = self._ciphers[key_id]
        out = []
        for payload in payloads:
            nonce = os.urandom(NONCE_BYTES)
            out.append(Payload(
                metadata={"encoding": ENCODING, KEY_ID: key_id.encode()},
                data=nonce + cipher.encrypt(nonce, payload.SerializeToString(), None),
            ))
        return out

    async def decode(self, payloads: Iterable[Payload]) -> list[Payload]:
        return [self.decode_one(p) for p in payloads]

    def decode_one(self, payload: Payload) -> Payload:
        if payload.metadata.get("encoding") != ENCODING:
            return payload
        key_id = payload.metadata.get(KEY_ID, b"").decode(errors="replace")
        cipher = self._ciphers.get(key_id)
        if cipher is None:
            raise UndecryptablePayload(
                f"a payload is encrypted under key {key_id!r}, which is not among the loaded keys ({', '.join(self._keys.keys)}); "
                f"add it to {self._keys.source} (retired keys stay listed before the current one)")
        try:
            plain = cipher.decrypt(payload.data[:NONCE_BYTES], payload.data[NONCE_BYTES:], None)
        except InvalidTag:
            raise UndecryptablePayload(
                f"a payload under key {key_id!r} does not decrypt with the key loaded as {key_id!r} "
                f"from {self._keys.source}: it is another key under the same id, or the payload was altered") from None
        return Payload.FromString(plain)


def undecodable(exc: BaseException) -> str | None:
    """Why a client could not read an answer, if the cause is encryption; else None.

    Without keys, the SDK's converter meets `binary/encrypted` and raises KeyError; with the wrong
    keys, the codec raises UndecryptablePayload. Either may be wrapped by the SDK."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, UndecryptablePayload):
            return str(seen)
        if isinstance(seen, KeyError) and ENCODING.decode() in str(seen):
            return NO_KEYS
        seen = seen.__cause__ or seen.__context__
    return None


def data_converter(keys: CodecKeys | None) -> DataConverter:
    """pydantic's converter; with keys, payloads are encrypted and so are failure messages and
    stack traces (which can quote a title or a note)."""
    if keys is None:
        return pydantic_data_converter
    return dataclasses.replace(pydantic_data_converter, payload_codec=EncryptionCodec(keys),
                               failure_converter_class=DefaultFailureConverterWithEncodedAttributes)
