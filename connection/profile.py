"""Where Temporal is and how to reach it: Temporal's own client configuration, then flags.

One source for the worker, the CLI and the Python client. Settings come, strongest first, from
a flag (`--address`, `--tls-ca-path`, ...), an environment variable (`TEMPORAL_ADDRESS`,
`TEMPORAL_NAMESPACE`, `TEMPORAL_API_KEY`, `TEMPORAL_TLS*`, `TEMPORAL_GRPC_META_*`), then the
profile (`TEMPORAL_PROFILE`, default "default") of the TOML file the `temporal` CLI reads
(`TEMPORAL_CONFIG_FILE`, default ~/.config/temporalio/temporal.toml). Only when none of them
names an address or namespace do `localhost:7233` and `default` apply, as for the `temporal` CLI.
The loading is `temporalio.envconfig`'s (the Rust core's), so a team's existing profile works.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from temporalio.envconfig import ClientConfigProfile, ClientConfigTLS
from temporalio.service import TLSConfig

DEFAULT_ADDRESS = "localhost:7233"
DEFAULT_NAMESPACE = "default"
_BOOLEAN = ("1", "true", "0", "false")  # what the Rust core reads; it takes "no" as TLS on


class ConnectionConfigError(Exception):
    """A connection setting that cannot be used, in one line naming where it came from."""


@dataclass(frozen=True)
class ConnectionFlags:
    """What the command line said; None means "not given" (the environment and profile decide)."""

    profile: str | None = None
    config_file: str | None = None
    address: str | None = None
    namespace: str | None = None
    api_key: str | None = None
    tls: bool | None = None
    tls_ca_path: str | None = None
    tls_cert_path: str | None = None
    tls_key_path: str | None = None
    tls_server_name: str | None = None

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> "ConnectionFlags":
        return cls(**{f.name: getattr(args, f.name, None) for f in dataclasses.fields(cls)})


@dataclass(frozen=True)
class Connection:
    """Resolved settings: `connect_kwargs()` goes to `Client.connect`; `where` is for log lines."""

    address: str
    namespace: str
    api_key: str | None
    tls: bool | TLSConfig
    rpc_metadata: Mapping[str, str]
    source: str  # "profile 'staging' of /etc/temporal.toml", "environment and defaults", ...

    def connect_kwargs(self) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"target_host": self.address, "namespace": self.namespace, "tls": self.tls}
        if self.api_key:
            kwargs["api_key"] = self.api_key
        if self.rpc_metadata:
            kwargs["rpc_metadata"] = dict(self.rpc_metadata)
        return kwargs

    @property
    def uses_tls(self) -> bool:
        return self.tls is not False

    @property
    def where(self) -> str:
        how = ("TLS" if self.uses_tls else "plaintext") + (", API key" if self.api_key else "")
        if isinstance(self.tls, TLSConfig) and self.tls.client_cert:
            how += ", client certificate"
        return f"{self.address} namespace {self.namespace} ({how}; from {self.source})"


def add_connection_arguments(parser: argparse.ArgumentParser):
    """The `temporal` CLI's own connection flags, with its environment variables; returns the group."""
    group = parser.add_argument_group("Temporal connection (flag, then environment variable, then profile)")
    add = group.add_argument
    add("--profile", help="profile in the Temporal config file (TEMPORAL_PROFILE; default 'default')")
    add("--config-file", metavar="FILE", help="Temporal config TOML (TEMPORAL_CONFIG_FILE; default ~/.config/temporalio/temporal.toml)")
    add("--address", help=f"Temporal frontend host:port (TEMPORAL_ADDRESS; else the profile's; else {DEFAULT_ADDRESS})")
    add("--namespace", help=f"Temporal namespace (TEMPORAL_NAMESPACE; else the profile's; else {DEFAULT_NAMESPACE})")
    add("--api-key", help="API key, e.g. Temporal Cloud's; turns TLS on (prefer TEMPORAL_API_KEY: flags show in `ps`)")
    add("--tls", action="store_const", const=True, default=None, help="use TLS with the system's CAs (TEMPORAL_TLS)")
    add("--tls-ca-path", metavar="FILE", help="CA certificate the server's is checked against (TEMPORAL_TLS_SERVER_CA_CERT_PATH)")
    add("--tls-cert-path", metavar="FILE", help="client certificate for mTLS (TEMPORAL_TLS_CLIENT_CERT_PATH)")
    add("--tls-key-path", metavar="FILE", help="client private key for mTLS (TEMPORAL_TLS_CLIENT_KEY_PATH)")
    add("--tls-server-name", metavar="NAME", help="server name to expect in its certificate (TEMPORAL_TLS_SERVER_NAME)")
    return group


def resolve(flags: ConnectionFlags = ConnectionFlags(), environ: Mapping[str, str] | None = None) -> Connection:
    """The settings to connect with; raises ConnectionConfigError before any connection is tried.

    Refused: a config file that is named but missing, or not valid TOML, or has a key Temporal does
    not know (a misspelt `adress` would otherwise connect to localhost); an unknown profile; a
    TEMPORAL_TLS that is not a boolean; certificate files that cannot be read; a client
    certificate without its key or the reverse.
    """
    env = dict(os.environ if environ is None else environ)
    if flags.config_file is not None:
        env["TEMPORAL_CONFIG_FILE"] = flags.config_file
    if flags.profile is not None:
        env["TEMPORAL_PROFILE"] = flags.profile
    config_file = env.get("TEMPORAL_CONFIG_FILE")
    named_by = "--config-file" if flags.config_file is not None else "TEMPORAL_CONFIG_FILE"
    if config_file and not Path(config_file).is_file():
        raise ConnectionConfigError(f"{named_by}: {config_file} does not exist (or is not a file)")
    for name in ("TEMPORAL_TLS", "TEMPORAL_TLS_DISABLE_HOST_VERIFICATION"):
        # Set but empty or anything else turns TLS on in the core: refuse it rather than guess.
        if name in env and env[name].strip().lower() not in _BOOLEAN:
            raise ConnectionConfigError(f"{name}: {env[name]!r} is not true, false, 1 or 0")
    try:
        profile = ClientConfigProfile.load(override_env_vars=env, config_file_strict=True)
    except Exception as exc:  # temporalio.envconfig's ConfigError (TOML errors span lines)
        raise ConnectionConfigError(_config_error(exc, config_file, env.get("TEMPORAL_PROFILE"), flags)) from None
    profile = _with_flags(profile, flags)
    source = _source(config_file, env, flags)
    try:
        connect = profile.to_client_connect_config()
    except OSError as exc:
        raise ConnectionConfigError(f"TLS: cannot read {exc.filename}: {exc.strerror} (a certificate or key path in the flags, TEMPORAL_TLS_* or the profile)") from None
    tls = connect.get("tls", False)
    if isinstance(tls, TLSConfig) and bool(tls.client_cert) != bool(tls.client_private_key):
        raise ConnectionConfigError("TLS: a client certificate needs its private key and the reverse (--tls-cert-path with --tls-key-path)")
    return Connection(
        address=connect.get("target_host") or DEFAULT_ADDRESS, namespace=connect.get("namespace") or DEFAULT_NAMESPACE,
        api_key=connect.get("api_key"), tls=tls, rpc_metadata=connect.get("rpc_metadata") or {}, source=source,
    )


def _with_flags(profile: ClientConfigProfile, flags: ConnectionFlags) -> ClientConfigProfile:
    changes: dict[str, Any] = {k: v for k, v in (("address", flags.address), ("namespace", flags.namespace), ("api_key", flags.api_key)) if v is not None}
    tls_changes: dict[str, Any] = {}
    if flags.tls:
        tls_changes["disabled"] = False
    for name, value in (("server_root_ca_cert", flags.tls_ca_path), ("client_cert", flags.tls_cert_path),
                        ("client_private_key", flags.tls_key_path)):
        if value is not None:
            tls_changes[name] = Path(value)
    if flags.tls_server_name is not None:
        tls_changes["server_name"] = flags.tls_server_name
    if tls_changes:
        # A TLS flag turns TLS on even where the profile had it off, as the `temporal` CLI does.
        changes["tls"] = dataclasses.replace(profile.tls or ClientConfigTLS(), **{**tls_changes, "disabled": False})
    return dataclasses.replace(profile, **changes) if changes else profile


def _source(config_file: str | None, env: Mapping[str, str], flags: ConnectionFlags) -> str:
    file = config_file or _default_config_file()
    parts = []
    if file and Path(file).is_file():
        parts.append(f"profile {env.get('TEMPORAL_PROFILE') or 'default'!r} of {file}")
    if any(k.startswith("TEMPORAL_") and k not in ("TEMPORAL_CONFIG_FILE", "TEMPORAL_PROFILE") for k in env):
        parts.append("TEMPORAL_* variables")
    if any(v is not None for k, v in dataclasses.asdict(flags).items() if k not in ("profile", "config_file")):
        parts.append("flags")
    return ", ".join(parts) or "defaults"


def _default_config_file() -> str | None:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return str(Path(base) / "temporalio" / "temporal.toml")


def _config_error(exc: Exception, config_file: str | None, profile: str | None, flags: ConnectionFlags) -> str:
    text = str(exc).removeprefix("Configuration loading error: ").strip()
    where = config_file or _default_config_file()
    if text.startswith("Profile ") and "not found" in text:
        return f"{'--profile' if flags.profile is not None else 'TEMPORAL_PROFILE'}: profile {profile!r} is not in {where}"
    lines = [line.strip(" |^") for line in text.splitlines() if line.strip(" |^")]
    # TOML errors: "TOML parse error at line 2, column 1", the line, then what is wrong.
    return f"{where}: {lines[0]}: {lines[-1]}" if len(lines) > 1 else f"{where}: {text}"
