"""The worker refuses to start, with one clear message, when its configuration cannot work."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import pytest

from policies import DEFAULT_POLICY
from worker.settings import ConfigError, WorkerSettings


def test_the_default_configuration_is_valid() -> None:
    policy, warnings = WorkerSettings().check(environ={})
    assert policy.name == "default" and warnings == []


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"database_url": "mysql://root@localhost/x"}, "DATABASE_URL: mysql is not supported"),
        ({"policy": "/nonexistent/policy.toml"}, "ESCALATOR_POLICY: cannot read /nonexistent/policy.toml"),
        ({"contacts": "/nonexistent/contacts.toml"}, "ESCALATOR_CONTACTS: cannot read /nonexistent/contacts.toml"),
    ],
)
def test_bad_settings_are_refused(settings: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        WorkerSettings(**settings).check(environ={})


def test_a_contact_whose_secret_is_missing_is_refused(tmp_path: Path) -> None:
    contacts = tmp_path / "contacts.toml"
    contacts.write_text('[[contacts]]\nrole = "support_l1"\nchannel = "slack"\naddress = "#l1"\nsecret_env = "SLACK_L1_URL"\nreviewed_on = 2026-11-01\n')
    with pytest.raises(ConfigError, match="needs the environment variable SLACK_L1_URL, which is not set"):
        WorkerSettings(contacts=contacts).check(environ={})
    WorkerSettings(contacts=contacts).check(environ={"SLACK_L1_URL": "https://hooks.slack.com/services/x"})


async def test_python_m_worker_says_why_it_will_not_start(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(DEFAULT_POLICY.read_text().replace('version = "2026-11-22"', 'version = 7'))
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "worker", "--policy", str(bad), "--database-url", "sqlite:///" + str(tmp_path / "t.db"),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout=60)
    assert proc.returncode == 2
    (line,) = err.decode().strip().splitlines()  # one line, JSON when not on a terminal
    doc = json.loads(line)
    assert doc["event"] == "the worker will not start"
    assert doc["problems"] == [f"{bad}: version: Input should be a valid string"]
    assert not (tmp_path / "t.db").exists()  # nothing written
