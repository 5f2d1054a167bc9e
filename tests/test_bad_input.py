"""Bad input, kind by kind: one clear line naming the field, and nothing written.

The CLI in-process (refused before any connection), policy and contacts files through
`policy check`, start payloads and update payloads over the raw Temporal client as a backend in
another language would send them (time-skipping server), and the CLI against the dev server
where only Temporal can tell (unknown ticket, --follows, re-opening with other values).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from temporalio.api.common.v1 import Payload
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowFailureError, WorkflowUpdateFailedError
from temporalio.common import RawValue
from temporalio.testing import WorkflowEnvironment

from policies import DEFAULT_POLICY
from starter.client import update_failure_reason
from tests.test_cli_devserver import escalator
from tests.test_plan_command import run
from tests.test_ticket_workflow import open_ticket, state_after_snapshot
from worker.main import build_worker
from workflows.ticket import TicketWorkflow

NOW = datetime.now(UTC)
SOON = (NOW + timedelta(hours=1)).isoformat()
LONG_AGO = (NOW - timedelta(days=91)).isoformat()
OPEN = ["open", "--customer", "ACME", "--severity", "sev2", "--title", "Slow search"]


# --- the command line, refused before anything is sent -----------------------------------------

CLI = [
    (OPEN[:-2], "the following arguments are required: --title"),
    (["open", "--customer", "ACME", "--severity", "sev9", "--title", "x"], "unknown severity 'sev9'"),
    (["open", "--customer", "ACME Corp", "--severity", "sev2", "--title", "x"], "customer: must be an id"),
    (["open", "--customer", "", "--severity", "sev2", "--title", "x"], "customer: must be an id"),
    (["open", "--customer", "jane@example.com", "--severity", "sev2", "--title", "x"], "customer: must be an id"),
    ([*OPEN[:-1], "   "], "title: must say something (it is blank)"),
    ([*OPEN[:-1], ""], "title: must not be empty"),
    ([*OPEN[:-1], "x" * 301], "title: is too long (at most 300 characters)"),
    ([*OPEN, "--id", ""], "--id: must not be empty"),
    ([*OPEN, "--id", "T 1"], "ticket_id: must be an id"),
    ([*OPEN, "--id=-T1"], "ticket_id: must be an id"),
    ([*OPEN, "--id", "T" * 129], "ticket_id: must be an id"),
    ([*OPEN, "--plan", "gold"], "--plan: 'gold' is not a plan of the policy (have enterprise, premium, starter)"),
    ([*OPEN, "--plan", "Gold Plan"], "plan: must be a lower-case name"),
    ([*OPEN, "--category", "nosuch"], "--category: 'nosuch' is not a category of the policy"),
    ([*OPEN, "--channel", "E-Mail"], "channel: must be a lower-case name"),
    ([*OPEN, "--opened-at", "yesterday"], "is not an ISO 8601 instant"),
    ([*OPEN, "--opened-at", "2026-11-20T10:00:00"], "has no UTC offset"),
    ([*OPEN, "--opened-at", SOON], "--opened-at: "),
    ([*OPEN, "--opened-at", "2999-01-01T00:00:00Z"], "is in the future"),
    ([*OPEN, "--opened-at", "1970-01-01T00:00:00Z"], "is more than 90 days ago (lifecycle.max_backdate)"),
    ([*OPEN, "--opened-at", LONG_AGO], "is more than 90 days ago"),
    ([*OPEN, "--follows", "T 9"], "follows: must be an id"),
    ([*OPEN, "--id", "T-9", "--follows", "T-9"], "follows: a ticket cannot follow itself"),
    ([*OPEN, "--policy", "/nonexistent.toml"], "cannot read policy file /nonexistent.toml"),
    (["ack", "T-1"], "--by: say who does it"),
    (["ack", "T-1", "--by", ""], "by: must not be empty"),
    (["ack", "T-1", "--by", "root"], "--by: name the person who does it, not root"),
    (["ack", "T-1", "--by", "ROOT"], "not root"),
    (["ack", "T-1", "--by", "x" * 201], "by: is too long"),
    (["ack", "T-1", "--by", "a", "--note", "n" * 2001], "note: is too long"),
    (["ack", "T-1", "--by", "a", "--at", "noon"], "is not an ISO 8601 instant"),
    (["ack", "T-1", "--by", "a", "--at", "2026-11-20T10:00"], "has no UTC offset"),
    (["ack", "T-1", "--by", "a", "--at", SOON], "--at: "),
    (["ack", "T-1", "--by", "a", "--wait", "0"], "more than 0 and at most 3600 seconds"),
    (["ack", "T-1", "--by", "a", "--wait", "-1"], "more than 0 and at most 3600 seconds"),
    (["ack", "T-1", "--by", "a", "--wait", "soon"], "is not a number of seconds"),
    (["ack", "T-1", "--by", "a", "--wait", "7200"], "more than 0 and at most 3600 seconds"),
    (["respond", "T-1"], "--by: say who does it"),
    (["respond", "T-1", "--by", "a", "--message-id", "m" * 201], "message_id: is too long"),
    (["status", "T-1", "solved", "--by", "a"], "invalid choice: 'solved'"),
    (["status", "T-1", "closed", "--by", "a"], "invalid choice: 'closed'"),
    (["resolve", "T-1", "--by", "a", "--resolution", "r" * 2001], "resolution: is too long"),
    (["reopen", "T-1", "--by", "a"], "the following arguments are required: --reason"),
    (["reopen", "T-1", "--by", "a", "--reason", ""], "reason: must not be empty"),
    (["csat", "T-1", "6"], "invalid choice: '6'"),
    (["csat", "T-1", "great"], "invalid choice: 'great'"),
    (["severity", "T-1", "sev0", "--by", "a"], "unknown severity 'sev0'"),
    (["severity", "T-1", "--plan", "Gold", "--by", "a"], "plan: must be a lower-case name"),
    (["commander", "T-1", "", "--by", "a"], "name: must not be empty"),
    (["status-update", "T-1", "--text", "", "--by", "a"], "text: must not be empty"),
    (["status-update", "T-1", "--text", "t" * 3001, "--by", "a"], "text: is too long"),
    (["escalate", "T-1", "--to", "l2", "--by", "a"], "--note: a handoff to another tier needs a note"),
    (["escalate", "T-1", "--management", "--by", "a"], "--reason: say why (--management needs one)"),
    (["escalate", "T-1", "--step", "engineering", "--by", "a"], "--reason: say why (--step needs one)"),
    (["escalate", "T-1", "--by", "a"], "one of the arguments --to --management --step is required"),
    (["escalate", "T-1", "--to", "l2", "--management", "--by", "a"], "not allowed with argument"),
    (["deescalate", "T-1", "--to", "l1", "--by", "a"], "the following arguments are required: --note"),
    (["pir", "T-1", "--held-on", "someday", "--attendees", "a", "--by", "k"], "is not a date like"),
    (["pir", "T-1", "--held-on", "2099-01-01", "--attendees", "a", "--by", "k"], "--held-on: 2099-01-01 is in the future"),
    (["pir", "T-1", "--held-on", "2026-11-20", "--attendees", "a,,b", "--by", "k"], "give names separated by commas, none blank"),
    (["pir", "T-1", "--held-on", "2026-11-20", "--attendees", " ", "--by", "k"], "none blank"),
    (["rca", "T-1", "--link", "ftp://x", "--by", "a"], "link: must be an http:// or https:// link"),
    (["rca", "T-1", "--link", "docs/rca.pdf", "--by", "a"], "link: must be an http:// or https:// link"),
    (["action", "T-1", "--title", "t", "--owner", "o", "--due", "2026-13-01", "--by", "a"], "is not a date like"),
    (["action", "T-1", "--title", "t", "--owner", "o", "--due", "2026-12-01T10:00", "--by", "a"], "has no UTC offset"),
    (["action", "T-1", "--title", "", "--owner", "o", "--due", "2026-12-01", "--by", "a"], "title: must not be empty"),
    (["action", "T-1", "--title", "t", "--owner", "", "--due", "2026-12-01", "--by", "a"], "owner: must not be empty"),
    (["done", "T-1", "", "--by", "a"], "item: must not be empty"),
    (["waive", "T-1", "rca", "--by", "a"], "the following arguments are required: --reason"),
    (["waive", "T-1", "rca", "--reason", "r", "--by", ""], "by: must not be empty"),
    (["show"], "the following arguments are required: TICKET"),
    (["show", "T-1", "--wait", "0"], "more than 0 and at most 3600 seconds"),
    (["nosuch"], "invalid choice: 'nosuch'"),
    (["ack", "T-1", "--by", "a", "--address", "127.0.0.1:99999"], "cannot reach Temporal at 127.0.0.1:99999"),
    (["plan", "--severity", "sev2", "--opened", "today"], "is not an ISO 8601 instant"),
    (["plan", "--severity", "sev2", "--opened", "2026-11-20T10:00:00Z", "--policy", "/nonexistent.toml"], "cannot read policy file"),
    (["timeline", "T-1", "--database-url", "mysql://x"], "mysql is not supported"),
    (["timeline", "T-1", "--database-url", "not a url"], "is not a database URL"),
    (["db", "upgrade", "--database-url", "oracle://x"], "oracle is not supported"),
]


@pytest.mark.parametrize(("argv", "message"), CLI, ids=[" ".join(a)[:60] for a, _ in CLI])
def test_the_cli_refuses_with_one_line_naming_the_field(capsys, argv: list[str], message: str) -> None:
    code, out, err = run(capsys, *argv)
    assert code != 0 and out == ""
    assert len(err.strip().splitlines()) == 1, err
    assert err.startswith("escalator: error: ") and message in err, err
    assert "Traceback" not in err and "String should" not in err and "pattern '" not in err


# --- policy and contacts files --------------------------------------------------------------------

def replaced(old: str, new: str) -> str:
    text = DEFAULT_POLICY.read_text()
    assert old in text, old
    return text.replace(old, new, 1)


POLICIES = [
    (replaced('warn_at = [75]', 'warn_at = [175]'), "warn_at.0"),
    (replaced('give_up_after = "24h"', 'give_up_after = "2m"'), "fallback_after: must be shorter than give_up_after"),
    (replaced('fallback_after = "5m"', 'fallback_after = "2 business hours"'), "fallback_after: give a wall-clock duration"),
    (replaced('delivery_failed = ["support_manager"]', 'delivery_failed = ["nobody"]'), "no role named 'nobody'"),
    (replaced('auto_solve = ["requester"]', 'auto_solve = ["requester"]\nescalation = ["support_l1"]'), "escalation: not an obligation kind that notifies"),
    (replaced('after = "4h"', 'after = "-4h"'), "is not a duration"),
    (replaced('after = "4h"', 'after = "4 fortnights"'), "is not a duration"),
    (replaced('repeat_every = "15m"', 'repeat_every = "0m"'), "a duration must be longer than zero"),
    (replaced('remind = ["incident_commander"]', 'remind = ["incident_commandr"]'), "incident_commandr"),
    ("this is not toml = = =", "policy"),
    ("", "policy"),
]


@pytest.mark.parametrize(("text", "message"), POLICIES, ids=[m[:40] for _, m in POLICIES])
def test_policy_check_refuses_a_bad_policy_naming_the_field(capsys, tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "policy.toml"
    path.write_text(text)
    code, out, err = run(capsys, "policy", "check", str(path))
    assert code == 1 and "Traceback" not in err
    assert message in err, err


def test_policy_check_says_a_binary_file_is_not_text(capsys, tmp_path: Path) -> None:
    path = tmp_path / "policy.toml"
    path.write_bytes(bytes(range(256)) * 4)
    code, _, err = run(capsys, "policy", "check", str(path))
    assert code == 1 and err.strip() == f"error: policy file {path} is not a text file (TOML in UTF-8)"


CONTACTS = [
    ('role = "support_l1"\nchannel = "webhook"\naddress = "http://hooks.example.com/x"\nsecret_env = "S"', "URL scheme 'http' refused: use https"),
    ('role = "support_l1"\nchannel = "webhook"\naddress = "https://127.0.0.1/x"\nsecret_env = "S"', "127.0.0.1 is a private/loopback/link-local address"),
    ('role = "support_l1"\nchannel = "webhook"\naddress = "https://localhost/x"\nsecret_env = "S"', "localhost is a private/loopback/link-local address"),
    ('role = "support_l1"\nchannel = "webhook"\naddress = "https://169.254.169.254/latest"\nsecret_env = "S"', "169.254.169.254 is a private"),
    ('role = "support_l1"\nchannel = "webhook"\naddress = "https://10.1.2.3/x"\nsecret_env = "S"', "10.1.2.3 is a private"),
    ('role = "support_l1"\nchannel = "webhook"\naddress = "https://[::1]/x"\nsecret_env = "S"', "::1 is a private"),
    ('role = "support_l1"\nchannel = "webhook"\naddress = "https://hooks.example.com/x"', "a webhook contact needs secret_env"),
    ('role = "support_l1"\nchannel = "slack"\naddress = "#support"', "a slack contact needs secret_env"),
    ('role = "support_l1"\nchannel = "pagerduty"\naddress = "svc"', "a pagerduty contact needs secret_env"),
    ('role = "nobody"\nchannel = "console"\naddress = "x"', "role 'nobody' is not in the policy"),
    ('role = "account_manager"\nchannel = "console"\naddress = "x"', "role account_manager is per customer: set customer"),
    ('role = "support_l1"\nchannel = "fax"\naddress = "x"', "channel"),
]


@pytest.mark.parametrize(("entry", "message"), CONTACTS, ids=[m[:40] for _, m in CONTACTS])
def test_policy_check_refuses_contacts_that_can_never_be_delivered(capsys, tmp_path: Path, entry: str, message: str) -> None:
    path = tmp_path / "contacts.toml"
    path.write_text(f"[[contacts]]\n{entry}\nreviewed_on = 2026-11-01\n")
    code, _, err = run(capsys, "policy", "check", str(DEFAULT_POLICY), "--contacts", str(path), "--today", "2026-11-22")
    assert code == 1 and message in err, err


def test_private_webhooks_pass_with_the_allow_flag_as_the_worker_would_send_them(capsys, tmp_path: Path) -> None:
    path = tmp_path / "contacts.toml"
    path.write_text('[[contacts]]\nrole = "support_l1"\nchannel = "webhook"\naddress = "http://127.0.0.1:9000/x"\nsecret_env = "S"\nreviewed_on = 2026-11-20\n')
    code, _, err = run(capsys, "policy", "check", str(DEFAULT_POLICY), "--contacts", str(path), "--today", "2026-11-22", "--allow-private-urls")
    assert code == 0, err


# --- start input over the raw client ---------------------------------------------------------------

def ticket(**changes) -> dict:
    doc = {"ticket_id": "T-raw", "customer": "ACME", "title": "Checkout is down", "severity": "sev1",
           "opened_at": datetime.now(UTC).isoformat(), "channel": "api"}
    doc.update(changes)
    return {k: v for k, v in doc.items() if v is not ...}


STARTS = [
    (ticket(opened_at="2026-11-20T10:00:00"), "opened_at: must be an ISO 8601 instant with a UTC offset"),
    (ticket(opened_at="yesterday"), "opened_at: must be an ISO 8601 instant"),
    (ticket(opened_at=...), "opened_at: is required"),
    (ticket(severity="sev9"), "severity: must be one of 'sev1', 'sev2', 'sev3' or 'sev4'"),
    (ticket(severity="critical"), "severity: must be one of"),
    (ticket(title=...), "title: is required"),
    (ticket(title=""), "title: must not be empty"),
    (ticket(title="   "), "title: must say something"),
    (ticket(customer="ACME Corp"), "customer: must be an id"),
    (ticket(customer="ops@acme.example"), "customer: must be an id"),
    (ticket(channel="E-Mail"), "channel: must be a lower-case name"),
    (ticket(plan="gold"), "plan: 'gold' is not a plan of the policy"),
    (ticket(category="nosuch"), "category: 'nosuch' is not a category of the policy"),
    (ticket(ticket_id="T-other"), "ticket_id: 'T-other' differs from the workflow id 'T-raw'"),
    (ticket(follows="T-raw"), "follows: a ticket cannot follow itself"),
    (ticket(opened_at=(datetime.now(UTC) + timedelta(hours=2)).isoformat()), "opened_at: "),
    (ticket(opened_at="1970-01-01T00:00:00+00:00"), "opened_at: 1970-01-01T00:00:00+00:00 is more than 90 days ago (lifecycle.max_backdate)"),
    (["T-raw", "ACME"], "input: must be a JSON object"),
    ("just a string", "input: must be a JSON object"),
]


@pytest.mark.parametrize(("payload", "message"), STARTS, ids=[m[:50] for _, m in STARTS])
async def test_a_bad_start_fails_the_ticket_at_once_naming_the_field(store, ts_env: WorkflowEnvironment, payload, message: str) -> None:
    async with build_worker(ts_env.client, task_queue="tq", store=store):
        handle = await ts_env.client.start_workflow("TicketWorkflow", payload, id="T-raw", task_queue="tq")
        with pytest.raises(WorkflowFailureError) as failed:
            await handle.result()
        history = await handle.fetch_history()
    assert f"the ticket was not opened: {message}" in str(failed.value.cause), failed.value.cause
    assert not [e for e in history.events if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED]
    assert store.count("tickets") == 0 and store.count("ticket_events") == 0  # nothing written


async def test_a_start_in_another_encoding_fails_at_once(store, ts_env: WorkflowEnvironment) -> None:
    async with build_worker(ts_env.client, task_queue="tq", store=store):
        raw = RawValue(Payload(metadata={"encoding": b"binary/plain"}, data=b'{"ticket_id": "T-raw"}'))
        handle = await ts_env.client.start_workflow("TicketWorkflow", raw, id="T-raw", task_queue="tq")
        with pytest.raises(WorkflowFailureError) as failed:
            await handle.result()
    assert "input: must be a JSON object of the documented shape (json/plain" in str(failed.value.cause)


# --- update payloads over the raw client ---------------------------------------------------------

UPDATES = [
    ("respond", {}, "by: is required"),
    ("respond", {"by": ""}, "by: must not be empty"),
    ("respond", {"by": "   "}, "by: must name who does it"),
    ("respond", {"by": "root"}, "by: name the person who does it, not root"),
    ("respond", {"by": "a", "occurred_at": "2026-11-20T10:00:00"}, "occurred_at: must be an ISO 8601 instant with a UTC offset"),
    ("respond", {"by": "a", "event_id": "an event"}, "event_id: must be an id"),
    ("set_status", {"by": "a", "status": "closed"}, "status: closed is not set directly"),
    ("set_status", {"by": "a", "status": "paused"}, "status: must be one of"),
    ("record_csat", {"score": "6"}, "score: must be one of"),
    ("change_severity", {"by": "a", "plan": "gold"}, "plan: 'gold' is not a plan of the ticket's policy"),
    ("record_rca", {"by": "a", "link": "ftp://x"}, "link: must be an http:// or https:// link"),
    ("hand_off", {"by": "a", "to": "l9", "note": "n"}, "to: no support tier 'l9'"),
    ("add_action", {"by": "a", "title": "t", "owner": "o"}, "due: give either an instant (due) or a business day (due_on)"),
]


@pytest.mark.parametrize(("update", "payload", "message"), UPDATES, ids=[f"{u} {m[:40]}" for u, _, m in UPDATES])
async def test_a_bad_update_payload_is_refused_naming_the_field_and_changes_nothing(store, ts_env: WorkflowEnvironment, update: str,
                                                                                   payload: dict, message: str) -> None:
    async with build_worker(ts_env.client, task_queue="tq", store=store):
        _, handle = await open_ticket(ts_env, "tq", severity="sev2")
        before = (await state_after_snapshot(handle)).state
        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await handle.execute_update(update, payload)
        after = (await handle.query(TicketWorkflow.state)).state
        history = await handle.fetch_history()
    assert message in update_failure_reason(refused.value), update_failure_reason(refused.value)
    assert after == before
    assert not [e for e in history.events if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED]


async def test_an_update_in_another_encoding_is_refused_saying_it_must_be_json(store, ts_env: WorkflowEnvironment) -> None:
    async with build_worker(ts_env.client, task_queue="tq", store=store):
        _, handle = await open_ticket(ts_env, "tq", severity="sev2")
        await state_after_snapshot(handle)
        raw = RawValue(Payload(metadata={"encoding": b"binary/plain"}, data=json.dumps({"by": "alice"}).encode()))
        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await handle.execute_update("respond", raw)
    reason = update_failure_reason(refused.value)
    assert reason == "the payload must be JSON (json/plain) of the Respond shape in docs/api.md", reason


# --- what only the server can tell ------------------------------------------------------------

async def test_open_refuses_what_the_server_shows_is_wrong(store, dev_env: WorkflowEnvironment, unique: str) -> None:
    tid = f"T-bad-{unique}"
    async with build_worker(dev_env.client, store=store):
        code, _, err = await escalator(dev_env, *OPEN, "--id", tid)
        assert code == 0, err
        cases = [
            ([*OPEN[:-1], "Another title", "--id", tid], f"ticket {tid} is already open with other values: title is 'Slow search', not 'Another title'"),
            (["open", "--customer", "GLOBEX", "--severity", "sev1", "--title", "Slow search", "--id", tid], "customer is 'ACME', not 'GLOBEX'; severity is 'sev2', not 'sev1'"),
            ([*OPEN, "--follows", f"T-none-{unique}"], f"follows: no ticket T-none-{unique}"),
            ([*OPEN, "--follows", tid], f"follows: ticket {tid} is still open"),
            (["ack", f"T-none-{unique}", "--by", "a", "--wait", "2"], f"no ticket T-none-{unique}"),
            (["show", tid, "--namespace", f"nosuch-{unique}"], "namespace"),
        ]
        for argv, message in cases:
            code, out, err = await escalator(dev_env, *argv)
            assert code != 0 and out == "" and message in err and len(err.strip().splitlines()) == 1, (argv, err)
        code, _, err = await escalator(dev_env, *OPEN, "--id", tid)
        assert code == 0, err  # the same values again: the running ticket, as before


def test_policy_check_warns_when_a_first_response_falls_due_after_the_resolution(capsys, tmp_path: Path) -> None:
    path = tmp_path / "policy.toml"
    path.write_text(replaced('targets.first_response = { within = "3 business days" }', 'targets.first_response = { within = "30 business days" }'))
    code, out, err = run(capsys, "policy", "check", str(path), "--json")
    doc = json.loads(out)
    assert code == 0 and doc["ok"] is True
    assert any("sev4, category billing_dispute: first response (30 business days, category billing_dispute) falls due after resolution" in w
               for w in doc["warnings"]), doc["warnings"]


def test_policy_check_reports_every_inconsistency_of_a_file_at_once(capsys, tmp_path: Path) -> None:
    path = tmp_path / "policy.toml"
    path.write_text('name = "x"\nversion = "1"\n[severities.sev1]\ntargets.first_response = { within = "2h" }\n'
                    '[roles.a]\nlabel = "A"\n[notifications]\nwarning = ["nobody"]\n')
    code, _, err = run(capsys, "policy", "check", str(path))
    assert code == 1
    assert err.splitlines() == [
        f"error: {path}: severities: every severity needs a table; missing sev2, sev3, sev4",
        f"error: {path}: severities.sev1.targets: needs a resolution target",
        f"error: {path}: default_calendar: no calendar named 'business' (have 24x7)",
        f"error: {path}: notifications.warning: no role named 'nobody' (have a)",
    ]


async def test_signals_that_do_not_decode_are_refused_in_the_timeline(store, ts_env: WorkflowEnvironment) -> None:
    async with build_worker(ts_env.client, task_queue="tq", store=store):
        opened, handle = await open_ticket(ts_env, "tq", severity="sev2")
        await state_after_snapshot(handle)
        await handle.signal("customer_message_received", {"message_id": 5})
        await handle.signal("customer_message_received", "garbage")
        await handle.signal("queued_message", "junk")
        await ts_env.sleep(timedelta(seconds=2))
        view = await handle.query(TicketWorkflow.state)
        history = await handle.fetch_history()
    _, rows = store.timeline(opened.ticket_id)
    refused = [r["detail"]["reason"] for r in rows if r["kind"] == "refused"]
    assert refused == ["message_id: must be text (a JSON string)", "input: must be a JSON object of the documented shape (docs/api.md)",
                       "input: must be a JSON object of the documented shape (docs/api.md)"], refused
    assert view.state.customer_messages == 0
    assert not [e for e in history.events if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED]


async def test_a_terminated_tickets_id_is_not_reused(store, dev_env: WorkflowEnvironment, unique: str) -> None:
    tid = f"T-reuse-{unique}"
    async with build_worker(dev_env.client, store=store):
        code, _, err = await escalator(dev_env, *OPEN, "--id", tid)
        assert code == 0, err
        await dev_env.client.get_workflow_handle_for(TicketWorkflow.run, tid).terminate(reason="mistake")
        code, out, err = await escalator(dev_env, *OPEN, "--id", tid)
    assert code == 1 and out == "" and f"ticket {tid} exists and is terminated: open a follow-up ticket" in err
