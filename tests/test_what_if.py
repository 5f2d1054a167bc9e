"""What-if over stored tickets: the pure re-drive, and `escalator simulate` over tickets the real
workflow stored (time-skipping server, SQLite), against outcomes checked by hand.

The stored scenario (Berlin business hours 08:00-18:00 Mon-Fri; the default policy: Sev-2 first
response 4 business hours warned at 75%; Sev-3 1 business day). Three tickets open on a Monday
at 09:00:
- A, Sev-2, responded 11:30 (2.5 h), resolved 15:00: under the default policy nothing is owed
  (the warning would be at 12:00). Under the new policy (Sev-2 first response 2 business hours)
  its 75% warning falls at 10:30 and the breach at 11:00: 1 warning, 1 breach more.
- B, Sev-3, responded 10:00, resolved 15:00: nothing under either policy (the change is Sev-2's).
- C, Sev-2, responded 14:00, resolved 15:00: warned 12:00 and breached 13:00 under the default
  policy (the real workflow recorded both), warned 10:30 and breached 11:00 under the new one:
  the same counts, so its outcome does not change.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from policies import DEFAULT_POLICY
from sla.messages import Resolve, Respond
from sla.policy import parse_policy
from sla.ticket import TicketOpened
from sla.what_if import Incomplete, messages_of, simulate

BERLIN = ZoneInfo("Europe/Berlin")
SEV2_FR = 'targets.first_response = { within = "4 business hours" }'


def new_policy(tmp_path: Path) -> Path:
    path = tmp_path / "new.toml"
    path.write_text(DEFAULT_POLICY.read_text().replace(SEV2_FR, 'targets.first_response = { within = "2 business hours" }', 1))
    return path


# Pure ----------------------------------------------------------------------------------------

MONDAY_9 = datetime(2026, 11, 23, 9, 0, tzinfo=BERLIN)


def test_messages_come_from_the_stored_events_in_order_and_outcomes_are_not_inputs() -> None:
    events = [
        {"seq": 3, "at": MONDAY_9 + timedelta(hours=2), "kind": "responded", "detail": {"by": "alice", "message_id": None}},
        {"seq": 1, "at": MONDAY_9, "kind": "opened", "detail": {"severity": "sev2"}},
        {"seq": 2, "at": MONDAY_9 + timedelta(hours=1), "kind": "breach", "detail": {"obligation": "x"}},
        {"seq": 4, "at": MONDAY_9 + timedelta(hours=3), "kind": "resolved", "detail": {"by": "alice", "resolution": None}},
    ]
    found = messages_of(events)
    assert [(at.hour, type(m)) for at, m in found] == [(11, Respond), (12, Resolve)]
    with pytest.raises(Incomplete, match=r"event 5 \(responded\) lacks field 'by'"):
        messages_of(events + [{"seq": 5, "at": MONDAY_9, "kind": "responded", "detail": {}}])


def test_a_ticket_re_driven_under_two_policies(default_policy, tmp_path) -> None:
    new = parse_policy(new_policy(tmp_path).read_text(), "new.toml")
    ticket = TicketOpened(ticket_id="T-A", customer="ACME", title="t", severity="sev2", opened_at=MONDAY_9)
    messages = [(MONDAY_9 + timedelta(hours=2, minutes=30), Respond(by="a")), (MONDAY_9 + timedelta(hours=6), Resolve(by="a"))]
    until = MONDAY_9 + timedelta(hours=6)
    before, after = simulate(default_policy, ticket, messages, until), simulate(new, ticket, messages, until)
    assert (before.breaches, before.warnings, before.status) == ({}, 0, "solved")
    assert (after.breaches, after.warnings, after.status) == ({"first_response": 1}, 1, "solved")
    # Later, the ticket closes 3 days after the solve (lifecycle.close_after_solved) in both.
    assert simulate(default_policy, ticket, messages, until + timedelta(days=4)).status == "closed"


def test_a_message_the_policy_refuses_is_counted_not_applied(default_policy) -> None:
    from sla.messages import AcknowledgePage

    ticket = TicketOpened(ticket_id="T-A", customer="ACME", title="t", severity="sev2", opened_at=MONDAY_9)
    outcome = simulate(default_policy, ticket, [(MONDAY_9 + timedelta(minutes=5), AcknowledgePage(step="no_such_step", by="a"))],
                       MONDAY_9 + timedelta(hours=1))
    assert outcome.refused == 1


# Stored by the real workflow -----------------------------------------------------------------

def _next_monday_9(now: datetime) -> datetime:
    day = now.astimezone(BERLIN).date() + timedelta(days=1)
    while day.weekday() != 0:
        day += timedelta(days=1)
    return datetime(day.year, day.month, day.day, 9, 0, tzinfo=BERLIN)


@pytest.fixture
async def stored_month(store, ts_env):
    """The three tickets of the module docstring, run by the real workflow into a SQLite store."""
    from tests.test_lifecycle_workflow import move_clock_to
    from tests.test_ticket_workflow import state_after_snapshot
    from worker.main import build_worker
    from workflows.ticket import TicketWorkflow

    monday = _next_monday_9(await ts_env.get_current_time())
    await move_clock_to(ts_env, monday)
    handles = {}
    async with build_worker(ts_env.client, task_queue="tq", store=store):
        for name, severity in (("A", "sev2"), ("B", "sev3"), ("C", "sev2")):
            opened = TicketOpened(ticket_id=f"T-{name}", customer="ACME", title=f"ticket {name}", severity=severity,
                                  opened_at=await ts_env.get_current_time())
            handles[name] = await ts_env.client.start_workflow(TicketWorkflow.run, opened, id=opened.ticket_id, task_queue="tq")
            await state_after_snapshot(handles[name])

        async def at(offset: timedelta, name: str, update, request) -> None:
            await ts_env.sleep(monday + offset - await ts_env.get_current_time())
            await handles[name].execute_update(update, request)

        await at(timedelta(hours=1), "B", TicketWorkflow.respond, Respond(by="bob"))
        await at(timedelta(hours=2, minutes=30), "A", TicketWorkflow.respond, Respond(by="alice"))
        await at(timedelta(hours=5), "C", TicketWorkflow.respond, Respond(by="carol"))
        for name in "ABC":
            await at(timedelta(hours=6), name, TicketWorkflow.resolve, Resolve(by="alice"))
        await ts_env.sleep(timedelta(seconds=2))
    return store


def _simulate(url: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "starter", "simulate", "--database-url", url, *args], capture_output=True, text=True)


async def test_simulate_stored_tickets_against_hand_checked_outcomes(stored_month, tmp_path) -> None:
    url = stored_month.url
    policy = new_policy(tmp_path)
    done = _simulate(url, "--policy", str(policy), "--json", "--jobs", "1")
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    tickets = {t["ticket_id"]: t for t in doc["tickets"]}
    assert sorted(tickets) == ["T-A", "T-B", "T-C"] and doc["skipped"] == []
    a, b, c = tickets["T-A"], tickets["T-B"], tickets["T-C"]
    assert (a["baseline"]["breaches"], a["baseline"]["warnings"]) == ({}, 0)
    assert (a["new"]["breaches"], a["new"]["warnings"]) == ({"first_response": 1}, 1) and a["changed"]
    assert sum(a["new"]["pages"].values()) > sum(a["baseline"]["pages"].values())
    assert (b["baseline"]["breaches"], b["new"]["breaches"], b["changed"]) == ({}, {}, False)
    assert c["baseline"]["breaches"] == c["new"]["breaches"] == {"first_response": 1} and not c["changed"]
    assert doc["changed"] == 1 and doc["simulated"] == 3
    assert doc["totals"]["breaches.first_response"] == {"baseline": 1, "new": 2}

    # The baseline is what the real workflow did: its recorded warnings, breaches and escalations.
    rows = sqlite3.connect(url.removeprefix("sqlite:///")).execute("SELECT ticket_id, kind, detail FROM ticket_events").fetchall()
    for ticket_id, t in tickets.items():
        recorded = [(kind, json.loads(detail)) for tid, kind, detail in rows if tid == ticket_id]
        breaches = {}
        for kind, detail in recorded:
            if kind == "breach":
                breaches[detail["clock"]] = breaches.get(detail["clock"], 0) + 1
        assert t["baseline"]["breaches"] == breaches, ticket_id
        assert t["baseline"]["warnings"] == sum(1 for kind, _ in recorded if kind == "warning"), ticket_id
        assert t["baseline"]["escalations"] == sum(1 for kind, d in recorded if kind == "escalation" and "/post_incident/" not in d["obligation"])

    # The same store and policies give the same bytes, whatever the number of processes.
    again = _simulate(url, "--policy", str(policy), "--json", "--jobs", "2")
    assert again.stdout == done.stdout
    text = _simulate(url, "--policy", str(policy))
    assert text.returncode == 0
    assert "T-A  ACME  sev2  breaches 0 -> 1; breaches.first_response 0 -> 1;" in text.stdout
    assert "T-B  ACME  sev3  unchanged" in text.stdout and "1 of 3 tickets change outcome: T-A" in text.stdout
    csv = _simulate(url, "--policy", str(policy), "--csv").stdout.splitlines()
    assert csv[0].startswith("ticket_id,customer,severity,changed,status_baseline,status_new,breaches_baseline,breaches_new,")
    assert [line.split(",")[:4] for line in csv[1:]] == [["T-A", "ACME", "sev2", "yes"], ["T-B", "ACME", "sev3", "no"],
                                                         ["T-C", "ACME", "sev2", "no"]]


async def test_a_ticket_without_its_snapshot_is_skipped_with_the_reason(stored_month, tmp_path) -> None:
    url = stored_month.url
    db = sqlite3.connect(url.removeprefix("sqlite:///"))
    with db:
        db.execute("UPDATE tickets SET policy_snapshot = NULL WHERE ticket_id = 'T-B'")
    done = _simulate(url, "--policy", str(new_policy(tmp_path)))
    assert done.returncode == 0, done.stderr
    assert "1 skipped:" in done.stdout
    assert "1 x the store does not hold the policy it opened with (opened before store revision 0005, " \
           "or while the store was down): give --baseline: T-B" in done.stdout
    csv = _simulate(url, "--policy", str(new_policy(tmp_path)), "--csv")
    assert len(csv.stdout.splitlines()) == 3 and csv.stderr.startswith("1 ticket(s) skipped: T-B: the store does not hold")
    # With --baseline every ticket runs under the given file instead.
    done = _simulate(url, "--policy", str(new_policy(tmp_path)), "--baseline", str(DEFAULT_POLICY), "--json")
    doc = json.loads(done.stdout)
    assert doc["simulated"] == 3 and doc["skipped"] == [] and doc["baseline"]["source"] == str(DEFAULT_POLICY)
    # Filters: one customer, a window of opening dates.
    assert json.loads(_simulate(url, "--policy", str(DEFAULT_POLICY), "--baseline", str(DEFAULT_POLICY), "--customer", "OTHER",
                                "--json").stdout)["simulated"] == 0
    assert json.loads(_simulate(url, "--policy", str(DEFAULT_POLICY), "--baseline", str(DEFAULT_POLICY), "--to", "2020-01-01",
                                "--json").stdout)["simulated"] == 0


@pytest.mark.parametrize(("args", "line"), [
    (["--from", "2026-13-01"], "escalator: error: --from: '2026-13-01' is not a date (month must be in 1..12)"),
    (["--from", "2026-11-02", "--to", "2026-11-01"],
     "escalator: error: --to: the window is empty (--to must be after --from; a date --to includes that day)"),
    (["--as-of", "2026-11-01T10:00:00"], "escalator: error: --as-of: '2026-11-01T10:00:00' has no UTC offset (e.g. 2026-11-01T00:00:00+01:00)"),
    (["--csv", "--json"], "escalator: error: --csv and --json: give one"),
    (["--customer", "ACME Corp"], "escalator: error: --customer: 'ACME Corp' is not a customer id (letters, digits and . _ : -)"),
    (["--jobs", "0"], "escalator: error: --jobs: 0 is not between 1 and 64"),
])
def test_bad_input_is_one_line_and_reads_nothing(tmp_path, args, line) -> None:
    done = _simulate(f"sqlite:///{tmp_path / 'none.db'}", "--policy", str(DEFAULT_POLICY), *args)
    assert (done.returncode, done.stdout, done.stderr.strip()) == (2, "", line)
    assert not (tmp_path / "none.db").exists()


def test_a_bad_policy_or_a_missing_store_is_named(tmp_path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(DEFAULT_POLICY.read_text().replace('within = "4 business hours"', 'within = "4 fortnights"', 1))
    done = _simulate(f"sqlite:///{tmp_path / 'none.db'}", "--policy", str(bad))
    assert done.returncode == 2 and done.stderr.startswith(f"escalator: error: --policy: {bad}: severities.sev2.targets.first_response.within")
    done = _simulate(f"sqlite:///{tmp_path / 'none.db'}", "--policy", str(DEFAULT_POLICY))
    assert done.returncode == 2 and "does not exist: no ticket store there" in done.stderr
    assert not (tmp_path / "none.db").exists()


async def test_windows_are_instants_and_a_plan_the_policy_lacks_is_skipped(stored_month, tmp_path) -> None:
    url = stored_month.url
    db = sqlite3.connect(url.removeprefix("sqlite:///"))
    (opened,) = db.execute("SELECT opened_at FROM tickets WHERE ticket_id = 'T-A'").fetchone()
    opened = datetime.fromisoformat(opened).replace(tzinfo=ZoneInfo("UTC")).astimezone(BERLIN)  # stored as UTC text
    base = ["--baseline", str(DEFAULT_POLICY), "--json"]
    around = ["--from", (opened - timedelta(minutes=1)).isoformat(), "--to", (opened + timedelta(minutes=1)).isoformat()]
    assert json.loads(_simulate(url, "--policy", str(DEFAULT_POLICY), *base, *around).stdout)["simulated"] == 3
    after = ["--from", (opened + timedelta(minutes=1)).isoformat()]  # an offset of +01:00: the same instant in UTC is an hour earlier
    assert json.loads(_simulate(url, "--policy", str(DEFAULT_POLICY), *base, *after).stdout)["simulated"] == 0

    with db:
        db.execute("UPDATE ticket_events SET detail = json_set(detail, '$.plan', 'enterprise') WHERE ticket_id = 'T-B' AND kind = 'opened'")
    gold = tmp_path / "gold.toml"
    gold.write_text(DEFAULT_POLICY.read_text().replace("[plans.enterprise]", "[plans.gold]").replace("enterprise = 200", "gold = 200"))
    doc = json.loads(_simulate(url, "--policy", str(gold), *base).stdout)
    assert doc["skipped"] == [{"ticket_id": "T-B", "reason": "the new policy has no plan 'enterprise'"}] and doc["simulated"] == 2
