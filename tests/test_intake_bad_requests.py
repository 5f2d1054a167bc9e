"""Bad requests to the HTTP intake: each gets its documented status and problem document, and
nothing reaches a ticket: no workflow is started, the open ticket's history does not grow, no
workflow task fails. Real dev server, real worker, real HTTP (uvicorn + httpx).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.testing import WorkflowEnvironment

from sla.messages import Acknowledge
from sla.severity import Severity
from sla.ticket import TicketOpened
from starter.client import TicketClient
from tests.intake_server import make_intake, make_keys, serving
from worker.main import build_worker

pytestmark = pytest.mark.devserver

RUN = datetime.now(UTC).strftime("%H%M%S%f")
OPEN, CLOSED, ACKED = f"T-bad-open-{RUN}", f"T-bad-closed-{RUN}", f"T-bad-acked-{RUN}"
CUSTOMER = f"BAD-{RUN}"
GOOD_OPEN = {"customer": CUSTOMER, "title": "t", "severity": "sev3"}
NOW = datetime.now(UTC)


@dataclass
class Case:
    id: str
    method: str
    path: str
    body: Any = None  # dict/list/str/number: sent as JSON; bytes: sent as is
    status: int = 422
    kind: str = "invalid-field"
    says: str = ""  # in the problem's detail
    key: str | None = "rw"  # which key; None: no Authorization header
    headers: dict[str, str] = field(default_factory=dict)
    idem: bool = True  # send an Idempotency-Key


def opening(**changes: Any) -> dict[str, Any]:
    return {**GOOD_OPEN, **changes}


def without(name: str) -> dict[str, Any]:
    return {k: v for k, v in GOOD_OPEN.items() if k != name}


def ev(path_ticket: str = OPEN) -> str:
    return f"/v1/tickets/{path_ticket}/events"


T, E = "/v1/tickets", ev()
FUTURE = (NOW + timedelta(hours=1)).isoformat()
CASES = [
    # Who may do what (before anything else is read).
    Case("no-key-open", "POST", T, GOOD_OPEN, 401, "unauthorized", "Authorization: missing", key=None),
    Case("no-key-event", "POST", E, {"type": "respond", "by": "a"}, 401, "unauthorized", "missing", key=None),
    Case("no-key-get", "GET", f"{T}/{OPEN}", None, 401, "unauthorized", "missing", key=None),
    Case("no-key-list", "GET", T, None, 401, "unauthorized", "missing", key=None),
    Case("basic-scheme", "POST", T, GOOD_OPEN, 401, "unauthorized", "Bearer KEY", key=None, headers={"Authorization": "Basic dXNlcjpwYXNz"}),
    Case("bearer-empty", "POST", T, GOOD_OPEN, 401, "unauthorized", "Bearer KEY", key=None, headers={"Authorization": "Bearer"}),
    Case("unknown-key", "POST", T, GOOD_OPEN, 401, "unauthorized", "unknown key", key=None, headers={"Authorization": "Bearer esk_" + "A" * 43}),
    Case("unknown-key-get", "GET", T, None, 401, "unauthorized", "unknown key", key=None, headers={"Authorization": "Bearer nonsense"}),
    Case("read-key-opens", "POST", T, GOOD_OPEN, 403, "forbidden", "'write' scope", key="read"),
    Case("read-key-event", "POST", E, {"type": "respond", "by": "a"}, 403, "forbidden", "'write' scope", key="read"),
    Case("write-key-reads", "GET", f"{T}/{OPEN}", None, 403, "forbidden", "'read' scope", key="write"),
    Case("write-key-lists", "GET", T, None, 403, "forbidden", "'read' scope", key="write"),
    # Idempotency-Key.
    Case("no-idem-open", "POST", T, GOOD_OPEN, 422, says="Idempotency-Key: header required", idem=False),
    Case("no-idem-event", "POST", E, {"type": "respond", "by": "a"}, 422, says="Idempotency-Key: header required", idem=False),
    Case("idem-space", "POST", T, GOOD_OPEN, 422, says="Idempotency-Key: must be", idem=False, headers={"Idempotency-Key": "two words"}),
    Case("idem-long", "POST", E, {"type": "respond", "by": "a"}, 422, says="Idempotency-Key", idem=False, headers={"Idempotency-Key": "k" * 129}),
    Case("idem-dash", "POST", T, GOOD_OPEN, 422, says="Idempotency-Key", idem=False, headers={"Idempotency-Key": "-leading"}),
    Case("idem-too-long-for-key", "POST", E, {"type": "respond", "by": "a"}, 422, says="Idempotency-Key: at most 121 characters with key 'rw'",
         idem=False, headers={"Idempotency-Key": "k" * 122}),
    Case("nul-in-title", "POST", T, opening(title="a\u0000b"), 400, "malformed-body", "U+0000"),
    Case("nul-in-key", "POST", E, {"type": "respond", "by": "a", "message_id\u0000": "x"}, 400, "malformed-body", "U+0000"),
    Case("idem-slash", "POST", E, {"type": "respond", "by": "a"}, 422, says="Idempotency-Key", idem=False, headers={"Idempotency-Key": "a/b"}),
    # Media type and size.
    Case("no-content-type", "POST", T, b'{"customer": "A"}', 415, "unsupported-media-type", "Content-Type: none", headers={"Content-Type": ""}),
    Case("text-plain", "POST", T, b'{"customer": "A"}', 415, "unsupported-media-type", "text/plain", headers={"Content-Type": "text/plain"}),
    Case("form", "POST", T, b"customer=A", 415, "unsupported-media-type", "application/x-www-form-urlencoded",
         headers={"Content-Type": "application/x-www-form-urlencoded"}),
    Case("multipart", "POST", E, b"--x--", 415, "unsupported-media-type", "multipart/form-data", headers={"Content-Type": "multipart/form-data; boundary=x"}),
    Case("xml", "POST", E, b"<respond/>", 415, "unsupported-media-type", "application/xml", headers={"Content-Type": "application/xml"}),
    Case("octet", "POST", T, b"\x00\x01", 415, "unsupported-media-type", "application/octet-stream", headers={"Content-Type": "application/octet-stream"}),
    Case("huge-open", "POST", T, opening(title="x" * 70_000), 413, "too-large", "over the limit of 65536"),
    Case("huge-event", "POST", E, {"type": "respond", "by": "a", "message_id": "m" * 66_000}, 413, "too-large", "65536"),
    Case("huge-padding", "POST", T, b" " * 65_537 + b"{}", 413, "too-large", "over the limit"),
    # Not JSON.
    Case("invalid-utf8", "POST", T, b'{"customer": "\xff\xfe", "title": "t", "severity": "sev3"}', 400, "malformed-body", "not UTF-8"),
    Case("latin1", "POST", E, '{"type": "respond", "by": "Jos\u00e9"}'.encode("latin-1"), 400, "malformed-body", "not UTF-8"),
    Case("truncated", "POST", T, b'{"customer": "A", "title": ', 400, "malformed-body", "not JSON"),
    Case("trailing", "POST", E, b'{"type": "respond", "by": "a"} x', 400, "malformed-body", "not JSON"),
    Case("empty", "POST", T, b"", 400, "malformed-body", "empty"),
    Case("whitespace", "POST", E, b"   \n", 400, "malformed-body", "empty"),
    Case("single-quotes", "POST", T, b"{'customer': 'A'}", 400, "malformed-body", "not JSON"),
    Case("deep-list", "POST", T, b"[" * 100 + b"]" * 100, 400, "malformed-body", "nested deeper"),
    Case("very-deep", "POST", E, b"[" * 20_000 + b"]" * 20_000, 400, "malformed-body", "nested deeper"),
    Case("deep-field", "POST", T, json.dumps(opening(title=json.loads("[" * 40 + "]" * 40))).encode(), 400, "malformed-body", "nested deeper"),
    Case("nan", "POST", T, b'{"customer": "A", "title": NaN, "severity": "sev3"}', 400, "malformed-body", "NaN is not a JSON number"),
    Case("infinity", "POST", E, b'{"type": "respond", "by": Infinity}', 400, "malformed-body", "Infinity"),
    Case("duplicate-key", "POST", T, b'{"customer": "A", "title": "t", "severity": "sev4", "severity": "sev1"}', 400, "malformed-body",
         "'severity' appears twice"),
    Case("deep-object", "POST", E, ('{"a":' * 50 + "1" + "}" * 50).encode(), 400, "malformed-body", "nested deeper"),
    # Opening: the fields.
    Case("missing-customer", "POST", T, without("customer"), says="customer: is required"),
    Case("missing-title", "POST", T, without("title"), says="title: is required"),
    Case("missing-severity", "POST", T, without("severity"), says="severity: is required"),
    Case("severity-sev9", "POST", T, opening(severity="sev9"), says="severity: must be one of"),
    Case("severity-number", "POST", T, opening(severity=1), says="severity"),
    Case("severity-null", "POST", T, opening(severity=None), says="severity"),
    Case("title-empty", "POST", T, opening(title=""), says="title: must not be empty"),
    Case("title-long", "POST", T, opening(title="x" * 301), says="title: is too long"),
    Case("title-number", "POST", T, opening(title=42), says="title: must be text"),
    Case("title-list", "POST", T, opening(title=["a"]), says="title: must be text"),
    Case("customer-space", "POST", T, opening(customer="ACME Corp"), says="customer: must be an id"),
    Case("customer-email", "POST", T, opening(customer="ops@acme.com"), says="customer: must be an id"),
    Case("customer-empty", "POST", T, opening(customer=""), says="customer: must be an id"),
    Case("channel-upper", "POST", T, opening(channel="EMAIL"), says="channel: must be a lower-case name"),
    Case("ticket-id-space", "POST", T, opening(ticket_id="T 1"), says="ticket_id: must be an id"),
    Case("ticket-id-long", "POST", T, opening(ticket_id="T" * 129), says="ticket_id: must be an id"),
    Case("opened-no-offset", "POST", T, opening(opened_at="2026-11-29T10:00:00"), says="opened_at: must be an ISO 8601 instant"),
    Case("opened-words", "POST", T, opening(opened_at="yesterday"), says="opened_at: must be an ISO 8601 instant"),
    Case("opened-future", "POST", T, opening(opened_at=FUTURE), says="opened_at"),
    Case("opened-ancient", "POST", T, opening(opened_at=(NOW - timedelta(days=200)).isoformat()), says="lifecycle.max_backdate"),
    Case("plan-unknown", "POST", T, opening(plan="gold"), says="plan: 'gold' is not a plan of the policy"),
    Case("plan-upper", "POST", T, opening(plan="Gold"), says="plan: must be a lower-case name"),
    Case("category-unknown", "POST", T, opening(category="outage"), says="category: 'outage' is not a category"),
    Case("follows-unknown", "POST", T, opening(follows=f"T-none-{RUN}"), kind="refused", says="follows: no ticket"),
    Case("follows-open", "POST", T, opening(follows=OPEN), kind="refused", says="still open"),
    Case("unknown-field", "POST", T, opening(priority="high"), says="priority: is not a field"),
    Case("typo-field", "POST", T, opening(opend_at=NOW.isoformat()), says="opend_at: is not a field"),
    Case("via-given", "POST", T, opening(via="api:someone"), says="via: is not a field"),
    Case("body-list", "POST", T, [GOOD_OPEN], says="must be a JSON object"),
    Case("body-string", "POST", T, "open it", says="must be a JSON object"),
    Case("body-null", "POST", T, None, says="must be a JSON object"),
    Case("body-number", "POST", T, 7, says="must be a JSON object"),
    Case("open-closed-id", "POST", T, opening(ticket_id=CLOSED), 409, "ticket-closed", "open a follow-up ticket"),
    Case("open-other-values", "POST", T, opening(ticket_id=OPEN, severity="sev1"), 409, "ticket-conflict", "severity is 'sev3', not 'sev1'"),
    # Events: the envelope.
    Case("event-unknown-ticket", "POST", ev(f"T-none-{RUN}"), {"type": "respond", "by": "a"}, 404, "unknown-ticket", "no ticket"),
    Case("event-closed-ticket", "POST", ev(CLOSED), {"type": "respond", "by": "a"}, 409, "ticket-closed", "open a follow-up ticket"),
    Case("event-bad-path-id", "POST", "/v1/tickets/bad%20id/events", {"type": "respond", "by": "a"}, says="ticket_id"),
    Case("type-missing", "POST", E, {"by": "a"}, says="type: is required"),
    Case("type-unknown", "POST", E, {"type": "escalate", "by": "a"}, says="type: 'escalate' is not an event type"),
    Case("type-number", "POST", E, {"type": 3, "by": "a"}, says="type"),
    Case("event-list", "POST", E, [{"type": "respond", "by": "a"}], says="must be a JSON object"),
    Case("event-string", "POST", E, "respond", says="must be a JSON object"),
    Case("event-id-given", "POST", E, {"type": "respond", "by": "a", "event_id": "E-1"}, says="event_id: is not a field"),
    Case("event-via-given", "POST", E, {"type": "respond", "by": "a", "via": "api:x"}, says="via: is not a field"),
    Case("event-extra", "POST", E, {"type": "respond", "by": "a", "urgent": True}, says="urgent: is not a field"),
    Case("event-typo", "POST", E, {"type": "respond", "by": "a", "occured_at": NOW.isoformat()}, says="occured_at: is not a field"),
    # Events: each type's own fields.
    Case("respond-no-by", "POST", E, {"type": "respond"}, says="by: is required"),
    Case("respond-by-empty", "POST", E, {"type": "respond", "by": ""}, says="by: must not be empty"),
    Case("respond-by-long", "POST", E, {"type": "respond", "by": "a" * 201}, says="by: is too long"),
    Case("respond-by-number", "POST", E, {"type": "respond", "by": 5}, says="by: must be text"),
    Case("respond-by-blank", "POST", E, {"type": "respond", "by": "   "}, kind="refused", says="by"),
    Case("respond-by-root", "POST", E, {"type": "respond", "by": "root"}, kind="refused", says="root"),
    Case("at-no-offset", "POST", E, {"type": "respond", "by": "a", "occurred_at": "2026-11-29T10:00:00"}, says="occurred_at: must be an ISO 8601"),
    Case("at-garbage", "POST", E, {"type": "respond", "by": "a", "occurred_at": "soon"}, says="occurred_at: must be an ISO 8601"),
    Case("at-future", "POST", E, {"type": "respond", "by": "a", "occurred_at": FUTURE}, kind="refused", says="occurred_at"),
    Case("at-before-open", "POST", E, {"type": "respond", "by": "a", "occurred_at": (NOW - timedelta(days=3)).isoformat()}, kind="refused", says="occurred_at"),
    Case("status-solved", "POST", E, {"type": "set_status", "status": "solved", "by": "a"}, kind="refused", says="status"),
    Case("status-bogus", "POST", E, {"type": "set_status", "status": "bogus", "by": "a"}, says="status: must be one of"),
    Case("status-missing", "POST", E, {"type": "set_status", "by": "a"}, says="status: is required"),
    Case("csat-six", "POST", E, {"type": "record_csat", "score": "6"}, says="score: must be one of"),
    Case("csat-number", "POST", E, {"type": "record_csat", "score": 5}, says="score"),
    Case("csat-unsolved", "POST", E, {"type": "record_csat", "score": "5"}, kind="refused", says="solved"),
    Case("severity-sev9-event", "POST", E, {"type": "change_severity", "by": "a", "severity": "sev9"}, says="severity: must be one of"),
    Case("severity-no-change", "POST", E, {"type": "change_severity", "by": "a", "severity": "sev3"}, kind="refused", says="sev3"),
    Case("severity-unknown-plan", "POST", E, {"type": "change_severity", "by": "a", "plan": "gold"}, kind="refused", says="gold"),
    Case("handoff-unknown-tier", "POST", E, {"type": "hand_off", "to": "l9", "note": "n", "by": "a", "direction": "up"}, kind="refused", says="l9"),
    Case("handoff-sideways", "POST", E, {"type": "hand_off", "to": "l2", "note": "n", "by": "a", "direction": "sideways"}, says="direction"),
    Case("handoff-no-note", "POST", E, {"type": "hand_off", "to": "l2", "by": "a", "direction": "up"}, says="note: is required"),
    Case("rca-ftp", "POST", E, {"type": "record_rca", "by": "a", "link": "ftp://wiki/rca"}, says="link"),
    Case("review-future", "POST", E, {"type": "record_review", "by": "a", "held_on": (NOW + timedelta(days=3)).date().isoformat(), "attendees": ["a"]},
         kind="refused", says="held_on"),
    Case("review-attendees-string", "POST", E, {"type": "record_review", "by": "a", "held_on": "2026-11-01", "attendees": "a,b"}, says="attendees: must be a list"),
    Case("action-both-deadlines", "POST", E, {"type": "add_action", "by": "a", "title": "t", "owner": "o", "due": FUTURE, "due_on": "2026-12-30"},
         says="due: give either"),
    Case("action-no-deadline", "POST", E, {"type": "add_action", "by": "a", "title": "t", "owner": "o"}, says="due: give either"),
    Case("action-no-incident", "POST", E, {"type": "add_action", "by": "a", "title": "t", "owner": "o", "due": FUTURE}, kind="refused", says="post-incident"),
    Case("complete-unknown", "POST", E, {"type": "complete_obligation", "item": "action-99", "by": "a"}, kind="refused", says="action-99"),
    Case("jump-unknown-step", "POST", E, {"type": "jump_to_step", "step": "nope", "reason": "r", "by": "a"}, kind="refused", says="nope"),
    Case("ack-page-unknown", "POST", E, {"type": "acknowledge_page", "step": "nope", "by": "a"}, kind="refused", says="nope"),
    Case("reopen-open", "POST", E, {"type": "reopen", "by": "a", "reason": "r"}, kind="refused", says="solved"),
    Case("reopen-no-reason", "POST", E, {"type": "reopen", "by": "a"}, says="reason: is required"),
    Case("management-blank", "POST", E, {"type": "escalate_to_management", "by": "a", "reason": "  "}, kind="refused", says="reason"),
    Case("commander-missing", "POST", E, {"type": "designate_commander", "by": "a"}, says="name: is required"),
    Case("status-update-no-cadence", "POST", E, {"type": "post_status_update", "by": "a", "text": "x"}, kind="refused", says="cadence"),
    Case("ack-twice", "POST", ev(ACKED), {"type": "acknowledge", "by": "bob"}, kind="refused", says="already acknowledged"),
    # Reading.
    Case("get-unknown", "GET", f"{T}/T-none-{RUN}", None, 404, "unknown-ticket", "no ticket"),
    Case("get-bad-id", "GET", f"{T}/bad%20id", None, 422, says="ticket_id"),
    Case("list-severity", "GET", f"{T}?severity=sev9", None, 422, says="severity"),
    Case("list-status", "GET", f"{T}?status=resolved", None, 422, says="status"),
    Case("list-sla", "GET", f"{T}?sla_state=red", None, 422, says="sla_state"),
    Case("list-limit-zero", "GET", f"{T}?limit=0", None, 422, says="limit"),
    Case("list-limit-huge", "GET", f"{T}?limit=100000", None, 422, says="limit"),
    Case("list-limit-word", "GET", f"{T}?limit=ten", None, 422, says="limit"),
    Case("list-customer-space", "GET", f"{T}?customer=ACME%20Corp", None, 422, says="customer"),
    Case("list-owner-email", "GET", f"{T}?owner=a@b.c", None, 422, says="owner"),
    Case("list-breached-maybe", "GET", f"{T}?breached=maybe", None, 422, says="breached"),
    Case("list-unknown-filter", "GET", f"{T}?sevrity=sev1", None, 422, says="sevrity: not a filter"),
    Case("list-severity-alias", "GET", f"{T}?severity=critical", None, 422, says="severity"),
    Case("list-cursor-garbage", "GET", f"{T}?cursor=!!!", None, 422, says="cursor"),
    Case("list-cursor-forged", "GET", f"{T}?cursor=AAAAAAAAAAAAAAAAAAAA", None, 422, says="cursor"),
    Case("list-cursor-other-filters", "GET", f"{T}?severity=sev1&cursor=" + "A" * 24, None, 422, says="for these filters"),
    # Elsewhere.
    Case("no-such-path", "GET", "/v1/ticket", None, 404, "no-such-endpoint", "no such endpoint"),
    Case("unversioned", "POST", "/tickets", GOOD_OPEN, 404, "no-such-endpoint", "no such endpoint"),
    Case("trailing-slash", "GET", f"{T}/", None, 404, "no-such-endpoint", "no such endpoint"),
    Case("put-tickets", "PUT", T, GOOD_OPEN, 405, "method-not-allowed", "PUT is not allowed"),
    Case("delete-ticket", "DELETE", f"{T}/{OPEN}", None, 405, "method-not-allowed", "DELETE"),
    Case("hook-unknown-source", "POST", "/v1/hooks/nowhere", {"a": 1}, 404, "unknown-hook-source", "not a configured webhook source"),
    Case("hook-bad-source-name", "POST", "/v1/hooks/Bad%20Name", {"a": 1}, 422, says="source"),
]


@pytest.fixture(scope="module")
async def api(dev_env: WorkflowEnvironment, tmp_path_factory):
    """A worker, the API, an open ticket, an acknowledged one and a terminated one."""
    from store.ticket_store import TicketStore, upgrade

    folder = tmp_path_factory.mktemp("bad-requests")
    url = f"sqlite:///{folder / 'tickets.db'}"
    upgrade(url)
    store = TicketStore(url)
    keys_file, keys = make_keys(folder)
    client = TicketClient(dev_env.client)
    async with build_worker(dev_env.client, store=store), serving(make_intake(dev_env.client, folder, keys_file)) as base:
        for ticket_id in (OPEN, CLOSED, ACKED):
            await client.open(TicketOpened(ticket_id=ticket_id, customer=CUSTOMER, title="t", severity=Severity.SEV3, opened_at=NOW))
        await client.acknowledge(ACKED, Acknowledge(by="alice"))
        await dev_env.client.get_workflow_handle(CLOSED).terminate(reason="closed for the test")
        before = await _history(dev_env, OPEN)
        async with httpx.AsyncClient(base_url=base, timeout=30) as http:
            yield http, keys
        after = await _history(dev_env, OPEN)
    store.close()
    # Nothing reached the open ticket: its history is as it was, no workflow task failed.
    assert after == before, [EventType.Name(t) for t in after[len(before):]]
    assert EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED not in after
    started = [w.id async for w in dev_env.client.list_workflows(f"Customer = '{CUSTOMER}'")]
    assert sorted(started) == sorted([OPEN, CLOSED, ACKED]), started


async def _history(env: WorkflowEnvironment, ticket_id: str) -> list[int]:
    return [e.event_type async for e in env.client.get_workflow_handle(ticket_id).fetch_history_events()]


def test_there_are_at_least_100_cases() -> None:
    assert len(CASES) >= 100 and len({c.id for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
async def test_bad_request(api, case: Case) -> None:
    http, keys = api
    headers = dict(case.headers)
    if case.key is not None:
        headers["Authorization"] = f"Bearer {keys[case.key]}"
    if case.idem and case.method == "POST":
        headers.setdefault("Idempotency-Key", f"bad-{case.id}-{RUN}")
    if isinstance(case.body, bytes):
        headers.setdefault("Content-Type", "application/json")
        content = case.body
    else:
        content = None if case.body is None and case.method in ("GET", "DELETE") else json.dumps(case.body).encode()
        headers.setdefault("Content-Type", "application/json")
    if headers.get("Content-Type") == "":
        del headers["Content-Type"]
    answer = await http.request(case.method, case.path, content=content, headers=headers)
    assert answer.status_code == case.status, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    problem = answer.json()
    assert problem["status"] == case.status and problem["title"] and problem["instance"]
    assert problem["type"] == f"urn:escalator:problem:{case.kind}", problem
    assert case.says in problem["detail"], problem["detail"]
    assert "esk_" not in answer.text  # a key is never echoed
    if case.kind == "invalid-field":  # each field problem is listed too
        assert problem["errors"] and problem["errors"][0]["field"] and problem["errors"][0]["reason"], problem
