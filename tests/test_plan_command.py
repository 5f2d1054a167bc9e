"""`escalator plan` and `escalator policy check`, run in-process (they need no Temporal)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from policies import DEFAULT_POLICY
from starter.cli import main

EXAMPLE_CONTACTS = Path(str(DEFAULT_POLICY)).parent / "contacts.example.toml"


def run(capsys, *argv: str) -> tuple[int, str, str]:
    try:
        code = main(list(argv))
    except SystemExit as exc:  # argparse
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


def test_plan_json_is_one_document_listing_every_obligation(capsys) -> None:
    code, out, err = run(capsys, "plan", "--severity", "sev2", "--plan", "premium", "--opened", "2026-12-24T16:30:00+01:00", "--json")
    assert code == 0, err
    doc = json.loads(out)
    assert [(o["kind"], o["clock"], o["due"]) for o in doc] == [
        ("warning", "first_response", "2026-12-28T09:30:00+01:00"),
        ("breach", "first_response", "2026-12-28T10:30:00+01:00"),  # Sev-2's 4 business hours beat premium's 12
        ("warning", "resolution", "2026-12-30T09:00:00+01:00"),
        ("breach", "resolution", "2026-12-30T16:30:00+01:00"),
    ]
    assert doc[1]["target"] == {"within": "4 business hours", "calendar": "business", "rule": "severity sev2"}
    assert doc[1]["id"] == "PLAN/first_response/1/breach" and doc[1]["summary"] == "first response due: Sev-2, 4 business hours"


def test_plan_lists_the_sev1_cadence_up_to_the_resolution_deadline(capsys) -> None:
    code, out, _ = run(capsys, "plan", "--severity", "critical", "--opened", "2026-11-21T23:00:00+01:00", "--json")
    cadence = [o for o in json.loads(out) if o["clock"] == "status_update"]
    reminders = [o["due"] for o in cadence if o["kind"] == "breach"]
    escalations = [o["due"] for o in cadence if o["kind"] == "escalation"]
    # Nobody posts in a dry run: a reminder every 30 minutes for 8 hours, each escalated 15 minutes later.
    assert code == 0 and len(reminders) == 16 and len(escalations) == 15
    assert reminders[0] == "2026-11-21T23:30:00+01:00" and reminders[-1] == "2026-11-22T07:00:00+01:00"
    assert escalations[0] == "2026-11-21T23:45:00+01:00" and escalations[-1] == "2026-11-22T06:45:00+01:00"
    assert [o["id"] for o in cadence[:4]] == ["PLAN/status_update/1/breach", "PLAN/status_update/1/escalate",
                                               "PLAN/status_update/1/breach2", "PLAN/status_update/1/escalate2"]


def test_plan_horizon_and_now(capsys) -> None:
    code, out, _ = run(capsys, "plan", "--severity", "sev1", "--opened", "2026-11-20T09:00:00Z", "--horizon", "2h",
                       "--now", "2026-11-20T10:00:00Z", "--tz", "UTC", "--json")
    doc = json.loads(out)
    cadence = [o for o in doc if o["clock"] == "status_update"]
    # Reminders at 9:30, 10:00, 10:30, 11:00, escalations at 9:45, 10:15, 10:45: up to the 2h horizon.
    assert code == 0 and [o["due"][11:16] for o in cadence] == ["09:30", "09:45", "10:00", "10:15", "10:30", "10:45", "11:00"]
    assert [o["overdue"] for o in cadence] == [True, True, True, False, False, False, False]


def test_plan_shows_how_a_pause_moves_deadlines(capsys) -> None:
    args = ["plan", "--severity", "sev3", "--opened", "2026-11-20T09:00:00+01:00", "--json"]
    _, out, _ = run(capsys, *args)
    plain = {(o["clock"], o["kind"]): o["due"] for o in json.loads(out)}
    code, out, _ = run(capsys, *args, "--paused-from", "2026-11-20T17:00:00+01:00", "--paused-until", "2026-11-23T10:00:00+01:00")
    paused = {(o["clock"], o["kind"]): o["due"] for o in json.loads(out)}
    assert code == 0
    assert paused[("first_response", "breach")] == plain[("first_response", "breach")]  # never pauses
    # Fri 17:00 to Mon 10:00 is 3 business hours (1h Friday, 2h Monday), not 65 wall-clock hours.
    assert plain[("resolution", "breach")] == "2026-12-04T09:00:00+01:00"
    assert paused[("resolution", "breach")] == "2026-12-04T12:00:00+01:00"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--severity", "sev9"], "escalator: error: --severity: unknown severity 'sev9'"),
        (["--severity", "sev2", "--plan", "gold"], "--plan: 'gold' is not a plan of"),
        (["--severity", "sev2", "--category", "sales"], "--category: 'sales' is not a category of"),
        (["--severity", "sev2", "--horizon", "forever"], "--horizon: 'forever' is not a duration"),
        (["--severity", "sev2", "--paused-from", "2026-11-20T12:00:00Z", "--paused-until", "2026-11-20T11:00:00Z"], "is not after --paused-from"),
        (["--severity", "sev2", "--paused-until", "2026-11-20T11:00:00Z"], "--paused-until: give one per --paused-from"),
        (["--severity", "sev2", "--policy", "/nonexistent.toml"], "cannot read policy file /nonexistent.toml"),
        (["--severity", "sev2", "--tz", "Mars/Base"], "--tz: unknown IANA time zone"),
    ],
)
def test_plan_refuses_bad_input_with_a_reason(capsys, args: list[str], message: str) -> None:
    code, out, err = run(capsys, "plan", "--opened", "2026-11-20T09:00:00Z", *args)
    assert code == 1 and out == ""
    assert message in err


def test_policy_check_passes_the_shipped_files(capsys) -> None:
    code, out, err = run(capsys, "policy", "check", str(DEFAULT_POLICY), "--contacts", str(EXAMPLE_CONTACTS), "--today", "2026-11-22")
    assert code == 0 and out.startswith("ok: policy default")
    # The one thing worth a look: a Sev-1 billing dispute keeps the category's 3-business-day first response.
    assert err.splitlines() and all("category billing_dispute: first response (3 business days" in line for line in err.splitlines())


def test_policy_check_warns_about_stale_contacts_without_failing(capsys) -> None:
    code, out, err = run(capsys, "policy", "check", str(DEFAULT_POLICY), "--contacts", str(EXAMPLE_CONTACTS), "--today", "2027-03-01", "--json")
    doc = json.loads(out)
    assert code == 0 and doc["ok"] is True and doc["errors"] == []
    assert len([w for w in doc["warnings"] if "last reviewed" in w]) == 12  # every entry of the example file
    assert any("contacts.3 (support_manager, email): last reviewed 2026-11-01, 120 days ago (over 90)" in w for w in doc["warnings"])


def test_policy_check_names_file_field_and_reason(capsys, tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(DEFAULT_POLICY.read_text().replace('timezone = "Europe/Berlin"', 'timezone = "Europe/Berln"'))
    code, out, err = run(capsys, "policy", "check", str(bad))
    assert code == 1 and out == ""
    assert err.strip() == f"error: {bad}: calendars.business.timezone: unknown IANA time zone 'Europe/Berln' (e.g. 'Europe/Berlin')"


def test_policy_check_catches_contacts_that_cannot_work(capsys, tmp_path: Path) -> None:
    contacts = tmp_path / "contacts.toml"
    contacts.write_text(
        '[[contacts]]\nrole = "account_manager"\nchannel = "email"\naddress = "am@example.com"\nreviewed_on = 2026-11-01\n'
        '[[contacts]]\nrole = "cfo"\nchannel = "email"\naddress = "cfo@example.com"\nreviewed_on = 2026-11-01\n'
        '[[contacts]]\nrole = "support_l1"\nchannel = "fax"\naddress = "123"\nreviewed_on = 2026-11-01\n'
    )
    code, _, err = run(capsys, "policy", "check", str(DEFAULT_POLICY), "--contacts", str(contacts), "--today", "2026-11-22")
    assert code == 1
    assert f"{contacts}: contacts.2.channel: Input should be 'console', 'email', 'slack', 'webhook' or 'pagerduty'" in err

    contacts.write_text(contacts.read_text().replace('channel = "fax"', 'channel = "console"'))
    code, _, err = run(capsys, "policy", "check", str(DEFAULT_POLICY), "--contacts", str(contacts), "--today", "2026-11-22")
    assert code == 1
    assert "contacts.0 (account_manager, email): role account_manager is per customer: set customer" in err
    assert "contacts.1 (cfo, email): role 'cfo' is not in the policy" in err
    assert "warning: " in err and "role engineering_oncall has no contact" in err


def test_every_command_has_an_example_in_its_help_and_there_is_a_version(capsys) -> None:
    from starter.cli import build_parser

    sub = next(a for a in build_parser()._actions if a.__class__.__name__ == "_SubParsersAction")
    for name in sub.choices:
        if name in ("watchdog", "doctor"):  # it becomes another process (python -m worker.NAME)
            done = subprocess.run([sys.executable, "-m", "starter", name, "--help"], capture_output=True, text=True, timeout=60)
            assert done.returncode == 0 and f"example: escalator {name}" in done.stdout, done.stderr
            continue
        code, out, _ = run(capsys, name, "--help")
        assert code == 0 and f"example: escalator {name}" in out, name
    for argv in (["--help"], ["policy", "check", "--help"], ["db", "upgrade", "--help"]):
        code, out, _ = run(capsys, *argv)
        assert code == 0 and "example: escalator " in out, argv
    code, out, _ = run(capsys, "--version")
    assert code == 0 and out.startswith("escalator ")
