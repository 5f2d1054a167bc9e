"""Connecting: the resolved profile, the codec keys, and one line a person can act on when it fails."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from temporalio.client import Client
from temporalio.runtime import Runtime
from temporalio.service import TLSConfig

from connection.codec import data_converter
from connection.keys import CodecKeyError, CodecKeys, load_keys
from connection.profile import Connection, ConnectionConfigError, ConnectionFlags, add_connection_arguments, resolve


class CannotConnect(Exception):
    """Temporal could not be reached, or settings are wrong: one line, naming the setting."""


@dataclass(frozen=True)
class Settings:
    """Everything needed to connect: where (`connection`) and the payload keys (None: plaintext)."""

    connection: Connection
    keys: CodecKeys | None


def add_arguments(parser) -> None:
    """The connection flags and `--codec-keys-file`, for every command that talks to Temporal."""
    group = add_connection_arguments(parser)
    group.add_argument("--codec-keys-file", metavar="FILE",
                       help="encrypt payloads with the KEYID:BASE64KEY lines of FILE (ESCALATOR_CODEC_KEYS_FILE, "
                            "or the pairs inline, comma-separated, in ESCALATOR_CODEC_KEYS; default: not encrypted)")


def flags_of(args) -> tuple[ConnectionFlags, str | None]:
    """What `add_arguments`' flags said, for `load`."""
    return ConnectionFlags.from_args(args), getattr(args, "codec_keys_file", None)


def load(flags: ConnectionFlags = ConnectionFlags(), keys_file: str | None = None, environ: Mapping[str, str] | None = None) -> Settings:
    """Resolve the profile and the keys; raises CannotConnect before any connection is tried,
    one line per problem (the connection's and the keys' both, when both are wrong)."""
    problems: list[str] = []
    connection = keys = None
    try:
        connection = resolve(flags, environ)
    except ConnectionConfigError as exc:
        problems.append(str(exc))
    try:
        keys = load_keys(keys_file, environ)
    except CodecKeyError as exc:
        problems.append(str(exc))
    if problems:
        raise CannotConnect("\n".join(problems))
    return Settings(connection, keys)


async def connect(settings: Settings, runtime: Runtime | None = None) -> Client:
    """A client for `settings` (on `runtime`, the worker's, for its metrics and core logs);
    raises CannotConnect with why (refused, TLS, unknown host...)."""
    c = settings.connection
    try:
        return await Client.connect(**c.connect_kwargs(), data_converter=data_converter(settings.keys), runtime=runtime)
    except Exception as exc:  # the SDK raises RuntimeError (core), ValueError or its own for a bad address
        raise CannotConnect(f"cannot reach Temporal at {c.address}: {explain(exc, c)}") from None


def explain(exc: BaseException, c: Connection) -> str:
    """The core's connection error (a chain of causes on one line) as what to check."""
    text = _innermost(" ".join(str(exc).split()))
    low = text.lower()
    if "certificaterequired" in low:
        return f"the server wants a client certificate: give --tls-cert-path and --tls-key-path (or TEMPORAL_TLS_CLIENT_*) ({text})"
    if "notvalidforname" in low:
        return (f"the server's certificate does not name {c.address.rsplit(':', 1)[0]}: connect by the name it has, "
                f"or give that name with --tls-server-name (TEMPORAL_TLS_SERVER_NAME) ({text})")
    if "invalidcontenttype" in low or "invalidmessage" in low or "wrong version number" in low:
        return (f"the server does not speak TLS on this port: TLS is on here (--tls, TEMPORAL_TLS, an API key or the "
                f"profile's tls turn it on; TEMPORAL_TLS=false turns it off) ({text})")
    if "certificate" in low or "unknownissuer" in low or "invalid peer certificate" in low:
        hint = ("the server's certificate is not trusted: give its CA with --tls-ca-path, TEMPORAL_TLS_SERVER_CA_CERT_PATH "
                "or the profile's tls.server_ca_cert_path" if "unknownissuer" in low or "unknown issuer" in low
                else "TLS failed on a certificate: check the CA, the client certificate and key, and --tls-server-name")
        return f"{hint} ({text})"
    closed = ("handshake", "tls", "alert", "reset", "closed", "canceled", "broken pipe", "eof")
    if c.uses_tls and any(sign in low for sign in closed):
        # With TLS 1.3 a server refusing the client's certificate (or its absence) shows up as a
        # connection closed or reset after the handshake, worded differently run to run.
        has_cert = isinstance(c.tls, TLSConfig) and c.tls.client_cert
        ask = "does the server trust this client certificate?" if has_cert else \
            "does the server want a client certificate (--tls-cert-path/--tls-key-path)?"
        return f"the TLS handshake failed: {ask} ({text})"
    if not c.uses_tls and any(sign in low for sign in ("reset", "broken pipe", "h2 protocol error", "frame", "transport error")):
        return f"the server closed the connection: does it want TLS (--tls, TEMPORAL_TLS=true, or a profile with tls)? ({text})"
    if "refused" in low:
        return "connection refused (is `make dev` running? is it host:port?)"
    return text[:240]


def _innermost(text: str) -> str:
    """The last cause in the Rust core's nested error text, e.g. `InvalidCertificate(UnknownIssuer)`
    or `peer closed connection without sending TLS close_notify`."""
    found = (re.findall(r'error: "([^"]+)"', text) or re.findall(r"error: (\w+\(\w+\))", text)
             or re.findall(r'Error\(\w+, "([^"]+)"\)', text) or re.findall(r"Kind\((\w+)\)", text))
    return found[-1].split(": https://")[0][:200] if found else text[:240]
