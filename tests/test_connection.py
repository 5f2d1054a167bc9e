"""Reaching Temporal as the `temporal` CLI does: profiles, precedence, TLS and mTLS (through a relay)."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import pytest
from google.protobuf.duration_pb2 import Duration
from temporalio.api.workflowservice.v1 import RegisterNamespaceRequest
from temporalio.service import TLSConfig
from temporalio.testing import WorkflowEnvironment

from connection.client import CannotConnect, connect, load
from connection.profile import ConnectionFlags
from tests.conftest import register_search_attributes
from tests.tls_relay import TlsRelay, make_certificates
from worker.main import build_worker


def _profile_file(tmp_path: Path, text: str) -> str:
    path = tmp_path / "temporal.toml"
    path.write_text(text)
    return str(path)


STAGING = '''
[profile.default]
address = "default.example:7233"

[profile.staging]
address = "staging.example:7233"
namespace = "support-staging"
'''


def test_a_profile_selects_address_and_namespace(tmp_path: Path) -> None:
    file = _profile_file(tmp_path, STAGING)
    c = load(environ={"TEMPORAL_CONFIG_FILE": file, "TEMPORAL_PROFILE": "staging"}).connection
    assert (c.address, c.namespace, c.tls) == ("staging.example:7233", "support-staging", False)
    assert c.source == f"profile 'staging' of {file}"
    # Without TEMPORAL_PROFILE, the profile named "default"; its unset namespace falls back to "default".
    c = load(environ={"TEMPORAL_CONFIG_FILE": file}).connection
    assert (c.address, c.namespace) == ("default.example:7233", "default")


def test_flag_then_environment_then_profile_then_default(tmp_path: Path) -> None:
    file = _profile_file(tmp_path, STAGING)
    env = {"TEMPORAL_CONFIG_FILE": file, "TEMPORAL_PROFILE": "staging", "TEMPORAL_ADDRESS": "from-env:1"}
    c = load(environ=env).connection
    assert (c.address, c.namespace) == ("from-env:1", "support-staging")
    c = load(ConnectionFlags(address="from-flag:2", profile="default"), environ=env).connection
    assert (c.address, c.namespace) == ("from-flag:2", "default")
    c = load(environ={"XDG_CONFIG_HOME": str(tmp_path / "none")}).connection
    assert (c.address, c.namespace, c.tls) == ("localhost:7233", "default", False)


def test_api_key_and_tls_settings(tmp_path: Path) -> None:
    certs = make_certificates(tmp_path)
    c = load(environ={"TEMPORAL_API_KEY": "secret-key", "TEMPORAL_ADDRESS": "ns.acct.tmprl.cloud:7233", "TEMPORAL_NAMESPACE": "ns.acct"}).connection
    assert c.api_key == "secret-key" and c.uses_tls and "API key" in c.where and "secret-key" not in c.where
    file = _profile_file(tmp_path, f'''[profile.default]
address = "x:7233"
[profile.default.tls]
client_cert_path = "{certs.client_cert}"
client_key_path = "{certs.client_key}"
''')
    c = load(environ={"TEMPORAL_CONFIG_FILE": file}).connection
    assert isinstance(c.tls, TLSConfig) and c.tls.client_cert and c.tls.client_private_key and "client certificate" in c.where
    c = load(environ={"TEMPORAL_CONFIG_FILE": file, "TEMPORAL_TLS": "false"}).connection
    assert c.tls is False


@pytest.mark.parametrize(("environ", "flags", "message"), [
    ({"TEMPORAL_CONFIG_FILE": "/nonexistent/temporal.toml"}, ConnectionFlags(),
     "TEMPORAL_CONFIG_FILE: /nonexistent/temporal.toml does not exist (or is not a file)"),
    ({}, ConnectionFlags(config_file="/nonexistent/t.toml"), "--config-file: /nonexistent/t.toml does not exist (or is not a file)"),
    ({"TEMPORAL_TLS": "no"}, ConnectionFlags(), "TEMPORAL_TLS: 'no' is not true, false, 1 or 0"),
    ({"TEMPORAL_TLS": ""}, ConnectionFlags(), "TEMPORAL_TLS: '' is not true, false, 1 or 0"),
    ({"TEMPORAL_TLS_DISABLE_HOST_VERIFICATION": "maybe"}, ConnectionFlags(),
     "TEMPORAL_TLS_DISABLE_HOST_VERIFICATION: 'maybe' is not true, false, 1 or 0"),
    ({}, ConnectionFlags(tls_ca_path="/nonexistent/ca.pem"), "TLS: cannot read /nonexistent/ca.pem: No such file or directory"),
    ({}, ConnectionFlags(tls_cert_path="{client_cert}"), "TLS: a client certificate needs its private key and the reverse"),
])
def test_settings_that_cannot_work_are_refused_in_one_line(tmp_path: Path, environ, flags, message) -> None:
    certs = make_certificates(tmp_path)
    if flags.tls_cert_path:
        flags = ConnectionFlags(tls_cert_path=str(certs.client_cert))
    with pytest.raises(CannotConnect) as refused:
        load(flags, environ={"XDG_CONFIG_HOME": str(tmp_path), **environ})
    assert str(refused.value).startswith(message) and "\n" not in str(refused.value)


def test_a_misspelt_key_or_unknown_profile_is_refused(tmp_path: Path) -> None:
    file = _profile_file(tmp_path, '[profile.default]\nadress = "prod:7233"\n')
    with pytest.raises(CannotConnect, match=r"temporal.toml: TOML parse error at line 2, column 1: unknown field `adress`, expected one of"):
        load(environ={"TEMPORAL_CONFIG_FILE": file})
    file = _profile_file(tmp_path, STAGING)
    with pytest.raises(CannotConnect, match=r"^--profile: profile 'prod' is not in .*temporal.toml$"):
        load(ConnectionFlags(profile="prod"), environ={"TEMPORAL_CONFIG_FILE": file})


async def _cli(env: dict[str, str], *args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "starter", *args, env=env,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await proc.communicate()
    return proc.returncode, out.decode(), err.decode()


def _clean_env(**extra: str) -> dict[str, str]:
    return {**{k: v for k, v in os.environ.items() if not k.startswith("TEMPORAL_")}, **extra}


@pytest.mark.devserver
async def test_the_cli_and_a_worker_use_the_profiles_namespace(dev_env: WorkflowEnvironment, store, tmp_path: Path, unique: str) -> None:
    namespace = f"profile-{unique}"
    await dev_env.client.workflow_service.register_namespace(RegisterNamespaceRequest(
        namespace=namespace, workflow_execution_retention_period=Duration(seconds=86400)))
    address = dev_env.client.service_client.config.target_host
    file = _profile_file(tmp_path, f'[profile.support]\naddress = "{address}"\nnamespace = "{namespace}"\n')
    env = _clean_env(TEMPORAL_CONFIG_FILE=file, TEMPORAL_PROFILE="support")
    client = await connect(load(environ=env))
    assert client.namespace == namespace
    for _ in range(50):  # a new namespace takes a moment to be usable
        try:
            await register_search_attributes(client)
            break
        except Exception:
            await asyncio.sleep(0.2)
    async with build_worker(client, store=store):
        code, out, err = await _cli(env, "open", "--customer", "ACME", "--severity", "sev3", "--title", "t", "--id", f"T-{unique}")
        assert code == 0, err
        assert f"/namespaces/{namespace}/workflows/T-{unique}" in out
        code, out, err = await _cli(env, "show", f"T-{unique}")
        assert code == 0 and "Sev-3" in out, err
    # The same ticket is not in the default namespace: the profile chose where it went.
    code, _, err = await _cli(_clean_env(), "show", f"T-{unique}", "--address", address)
    assert code == 1 and err.strip() == f"escalator: error: no ticket T-{unique}"


@pytest.mark.devserver
async def test_tls_succeeds_with_the_ca_and_fails_clearly_without(dev_env: WorkflowEnvironment, store, tmp_path: Path, unique: str) -> None:
    certs = make_certificates(tmp_path)
    port = int(dev_env.client.service_client.config.target_host.rsplit(":", 1)[1])
    async with TlsRelay(port, certs) as relay:
        env = _clean_env(TEMPORAL_ADDRESS=relay.address, TEMPORAL_TLS_SERVER_CA_CERT_PATH=str(certs.ca))
        client = await connect(load(environ=env))
        async with build_worker(client, store=store):
            code, out, err = await _cli(env, "open", "--customer", "ACME", "--severity", "sev3", "--title", "over TLS", "--id", f"T-{unique}")
            assert code == 0, err
        code, _, err = await _cli(_clean_env(TEMPORAL_ADDRESS=relay.address, TEMPORAL_TLS="true"), "show", f"T-{unique}")
        assert code == 1 and err.strip() == (
            f"escalator: error: cannot reach Temporal at {relay.address}: the server's certificate is not trusted: give its CA with "
            "--tls-ca-path, TEMPORAL_TLS_SERVER_CA_CERT_PATH or the profile's tls.server_ca_cert_path (InvalidCertificate(UnknownIssuer))")
        code, _, err = await _cli(_clean_env(TEMPORAL_ADDRESS=relay.address), "show", f"T-{unique}")
        assert code == 1 and "does it want TLS (--tls, TEMPORAL_TLS=true, or a profile with tls)?" in err


@pytest.mark.devserver
async def test_mtls_needs_the_client_certificate(dev_env: WorkflowEnvironment, tmp_path: Path) -> None:
    certs = make_certificates(tmp_path)
    port = int(dev_env.client.service_client.config.target_host.rsplit(":", 1)[1])
    async with TlsRelay(port, certs, require_client_cert=True) as relay:
        with_ca = ConnectionFlags(address=relay.address, tls_ca_path=str(certs.ca))
        with pytest.raises(CannotConnect, match=r"the TLS handshake failed: does the server want a client certificate \(--tls-cert-path/--tls-key-path\)\?"):
            await connect(load(with_ca, environ={}))
        client = await connect(load(ConnectionFlags(address=relay.address, tls_ca_path=str(certs.ca), tls_cert_path=str(certs.client_cert),
                                                    tls_key_path=str(certs.client_key)), environ={}))
        assert (await client.count_workflows()).count >= 0


def test_a_bad_profile_and_bad_keys_are_both_reported(tmp_path: Path) -> None:
    with pytest.raises(CannotConnect) as refused:
        load(environ={"TEMPORAL_TLS": "maybe", "ESCALATOR_CODEC_KEYS": "k1:c2hvcnQ="})
    assert str(refused.value).splitlines() == ["TEMPORAL_TLS: 'maybe' is not true, false, 1 or 0",
                                               "ESCALATOR_CODEC_KEYS: key 1 (k1): the key is 5 bytes; AES-256 needs 32 "
                                               "(make one with `escalator codec-key new`)"]
