"""The tabletop drill: its script, and the seeds' Sev-1 timeline through the real workflow.

The seeds' Sev-1 (seeds/: internal escalation at 4h, a commander within an hour of it,
engineering within 2h, the account manager at 3h, updates every 30 minutes, review 72h after
resolution, RCA in 7 business days), as the default policy writes it, drilled with the script
`+4h10 commander alice`, `+6h05 ack-page engineering`, `+9h resolve`, opened Monday 09:00
Berlin. Hand-checked instants (offsets from the opening):
- +0h00, +0h05, +0h10, +0h15: the support on-call is paged, then repeated 3 times (nobody takes
  the ticket: the script never acknowledges it);
- +0h30, +1h00, ... +8h30: 17 status-update reminders to the incident commander role (no update
  is posted), each escalated to the support manager 15 minutes later;
- +1h30 first-response warning (75% of 2h), +2h00 its breach (support L1 and the manager);
- +4h00 internal escalation (L2 and the manager); no "commander missing" at +5h00: alice was
  designated at +4h10;
- +6h00 engineering (acknowledged at +6h05), +6h00 resolution warning (75% of 8h);
- +7h00 account manager (per customer: the example contacts have one for ACME only);
- +8h00 resolution breach; resolved at +9h00 (Monday 18:00);
- review due 72h later: +81h00 (Thursday 18:00); RCA due 7 business days after Monday 18:00,
  Tuesday to Wednesday of the next week: Wednesday 18:00, +225h00.
The policy is the default without its holidays, so the instants hold whatever week the test
server's clock lands on.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from policies import DEFAULT_POLICY
from sla.drill import parse_offset, parse_script

CONTACTS = Path(DEFAULT_POLICY).parent / "contacts.example.toml"
SCRIPT = "# the seeds' Sev-1\n+4h10 commander alice\n+6h05 ack-page engineering\n+9h resolve\n"


def test_the_script_reads_offsets_and_names_each_bad_line() -> None:
    steps = parse_script(SCRIPT)
    assert [(parse_offset("+4h10"), "commander", "alice", 2)] == [(s.offset, s.action, s.argument, s.line) for s in steps[:1]]
    with pytest.raises(ValueError) as bad:
        parse_script("+4h10 commander\n+3h resolve\n+2h10x respond\n+1h dance\n", "drill.txt")
    assert str(bad.value).splitlines() == [
        "drill.txt: line 1: commander needs a name",
        "drill.txt: line 3: '+2h10x' is not an offset such as +4h10, +45m or +1d2h",
        "drill.txt: line 4: unknown action 'dance' (have respond, ack, commander, ack-page, status-update, wait-customer, message, resolve)",
    ]
    with pytest.raises(ValueError, match="line 2: \\+1h is before the line above \\(\\+2h00\\): the script runs forward"):
        parse_script("+2h resolve\n+1h respond\n")


def _drill(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    policy = tmp_path / "policy.toml"
    policy.write_text(DEFAULT_POLICY.read_text().replace('holiday_country = "DE"', "", 1))
    environ = {k: v for k, v in os.environ.items() if not k.endswith(("_ROUTING_KEY", "_WEBHOOK_URL", "_SECRET"))}
    return subprocess.run([sys.executable, "-m", "starter", "drill", "--policy", str(policy), *args], capture_output=True, text=True,
                          env=environ, timeout=300)


def test_the_seeds_sev1_drill_against_its_hand_checked_timeline(tmp_path: Path) -> None:
    (tmp_path / "drill.txt").write_text(SCRIPT)
    done = _drill(tmp_path, "--severity", "sev1", "--contacts", str(CONTACTS), "--script", str(tmp_path / "drill.txt"),
                  "--opened", "2026-11-30T09:00:00+01:00", "--json")
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)  # stdout is the report alone
    told = [(t["offset"], t["role"], t["summary"].split(":")[0]) for t in doc["told"]]

    def at(offset: str) -> set[tuple[str, str]]:
        return {(role, what) for o, role, what in told if o == offset}

    assert [o for o, role, _ in told if role == "support_on_call"] == ["+0h00", "+0h05", "+0h10", "+0h15"]
    reminders = [o for o, role, what in told if role == "incident_commander" and what == "status update due"]
    assert reminders == [f"+{m // 60}h{m % 60:02d}" for m in range(30, 9 * 60, 30)]  # 17, +0h30 .. +8h30
    assert ("support_l1", "first response 75% warning") in at("+1h30")
    assert {("support_l1", "first response due"), ("support_manager", "first response due")} <= at("+2h00")
    assert {("support_l2", "escalation step 2"), ("support_manager", "escalation step 2")} <= at("+4h00")
    assert not any("commander" in t["summary"] and "no incident commander" in t["summary"] for t in doc["told"])
    assert ("engineering_oncall", "escalation step 4") in at("+6h00")
    assert ("account_manager", "escalation step 5") in at("+7h00")
    assert {("support_l1", "resolution due"), ("support_manager", "resolution due")} <= at("+8h00")
    assert doc["status"] == "solved"
    assert doc["post_incident_due"] == [
        {"item": "review", "offset": "+81h00", "at": doc["post_incident_due"][0]["at"]},
        {"item": "rca", "offset": "+225h00", "at": doc["post_incident_due"][1]["at"]},
    ]
    assert doc["post_incident_due"][0]["at"].startswith("2026-12-03T18:00") and doc["post_incident_due"][1]["at"].startswith("2026-12-09T18:00")
    fix = doc["to_fix"]
    assert "role account_manager: no contact: 1 message(s) would reach nobody, the first at +7h00" in fix
    assert "contact support-on-call (role support_on_call, pagerduty): its secret PAGERDUTY_ROUTING_KEY is not set here" in fix
    assert "target missed at +0h30: status update (Sev-1), 17 times" in fix
    assert "target missed at +2h00: first response (Sev-1)" in fix and "target missed at +8h00: resolution (Sev-1)" in fix


def test_a_night_drill_flags_pages_only_email_reaches_and_stale_contacts(tmp_path: Path) -> None:
    # Saturday 02:00: the missed status update's escalation (+0h45) goes to the support manager,
    # whom only e-mail reaches. Every example contact was last reviewed 2026-11-01 or later.
    done = _drill(tmp_path, "--severity", "critical", "--contacts", str(CONTACTS), "--opened", "2026-12-05T02:00:00+01:00",
                  "--horizon", "1h", "--stale-after", "1")
    assert done.returncode == 0, done.stderr
    assert "role support_manager: paged at +0h45 (Sat 02:45 Europe/Berlin), outside business hours, but reached only by email" in done.stdout
    assert "contact #incidents (role incident_commander): last reviewed 2026-11-01" in done.stdout
    assert done.stdout.splitlines()[0].startswith("drill: Sev-1, policy ")


@pytest.mark.parametrize(("args", "line"), [
    (["--severity", "sev9"], "escalator: error: --severity: unknown severity 'sev9' (sev1..sev4 or an alias of the policy)"),
    (["--severity", "sev1", "--plan", "gold"], "escalator: error: --plan: 'gold' is not a plan of the policy (have enterprise, premium, starter)"),
    (["--severity", "sev1", "--horizon", "2 business days"], "escalator: error: --horizon: give wall-clock time (e.g. 36h, 3 days), not business time"),
    (["--severity", "sev1", "--horizon", "abc"], "escalator: error: --horizon: 'abc': 'abc' is not a duration (e.g. '2h', '30 minutes', "
                                                 "'3 days', '4 business hours', '2 business days')"),
    (["--severity", "sev1", "--opened", "2026-11-30T09:00"], "escalator: error: --opened: '2026-11-30T09:00' has no UTC offset (e.g. 2026-11-30T09:00:00+01:00)"),
])
def test_bad_drill_input_is_one_line(tmp_path: Path, args, line) -> None:
    done = _drill(tmp_path, *args)
    assert (done.returncode, done.stdout, done.stderr.strip()) == (2, "", line)


def test_a_script_line_past_the_horizon_is_refused(tmp_path: Path) -> None:
    (tmp_path / "late.txt").write_text("+1d2h resolve\n")
    done = _drill(tmp_path, "--severity", "sev1", "--horizon", "3h", "--script", str(tmp_path / "late.txt"))
    assert done.returncode == 2
    assert done.stderr.strip() == f"escalator: error: {tmp_path / 'late.txt'}: line 1: +26h00 is past the horizon (+3h00): give a longer --horizon"
