"""Signed helpdesk webhooks through the HTTP intake, on the real dev server with a real worker.

The payloads are tests/payloads/ (written in Zendesk's and Jira Service Management's documented
shapes), with their ids made unique and their times moved to now; each is signed as that
helpdesk signs (tests/test_hook_mapping.py checks the verifiers alone).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from standardwebhooks import Webhook
from temporalio.api.enums.v1 import EventType
from temporalio.testing import WorkflowEnvironment

from intake.hooks.mapping import SHIPPED, load_source, parse_source
from intake.hooks.verify import verifier_for
from intake.hooks_route import HookDoor
from tests.intake_server import make_intake, make_keys, serving
from worker.main import build_worker
from workflows.ticket import TicketWorkflow

pytestmark = pytest.mark.devserver
PAYLOADS = Path(__file__).parent / "payloads"
ZENDESK_SECRET, JIRA_SECRET = "zd-secret-for-tests", "jira-secret-for-tests"
SW_SECRET = "whsec_" + base64.b64encode(b"standard-webhooks-test-secret-32b").decode()


def zendesk_payload(name: str, ticket: str, now: datetime, event_id: str | None = None) -> bytes:
    doc = json.loads((PAYLOADS / "zendesk" / name).read_text())
    doc["detail"]["id"] = ticket
    doc["detail"]["created_at"] = doc["detail"]["updated_at"] = (now - timedelta(seconds=5)).strftime("%Y-%m-%dT%H:%M:%SZ")
    doc["time"] = now.isoformat().replace("+00:00", "Z")
    doc["id"] = event_id or f"{name}-{ticket}"
    return json.dumps(doc).encode()


def zendesk_headers(body: bytes, invocation: str, secret: str = ZENDESK_SECRET, at: datetime | None = None) -> dict[str, str]:
    stamp = (at or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")
    signature = base64.b64encode(hmac.new(secret.encode(), stamp.encode() + body, hashlib.sha256).digest()).decode()
    return {"Content-Type": "application/json", "X-Zendesk-Webhook-Signature": signature,
            "X-Zendesk-Webhook-Signature-Timestamp": stamp, "X-Zendesk-Webhook-Invocation-Id": invocation}


def jira_payload(name: str, key: str, now: datetime) -> bytes:
    doc = json.loads((PAYLOADS / "jira" / name).read_text())
    doc["timestamp"] = int(now.timestamp() * 1000)
    doc["issue"]["key"] = key
    if "created" in doc["issue"]["fields"]:
        doc["issue"]["fields"]["created"] = (now - timedelta(seconds=5)).strftime("%Y-%m-%dT%H:%M:%S.000+0000")
    if "comment" in doc:
        doc["comment"]["created"] = doc["comment"]["updated"] = now.strftime("%Y-%m-%dT%H:%M:%S.000+0000")
    return json.dumps(doc).encode()


def jira_headers(body: bytes, identifier: str, secret: str = JIRA_SECRET) -> dict[str, str]:
    return {"Content-Type": "application/json", "X-Atlassian-Webhook-Identifier": identifier,
            "X-Hub-Signature": "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()}


SW_MAPPING = """
[verify]
scheme = "standard-webhooks"
secrets_env = ["PORTAL_SECRET"]
[ticket]
id = { path = "$.ticket" }
[[rules]]
when = { "$.kind" = "incident.opened" }
event = "open"
[rules.fields]
customer = { path = "$.account" }
title = { path = "$.summary" }
severity = { path = "$.level", map = { P1 = "sev1", P2 = "sev2", P3 = "sev3" } }
channel = { value = "portal" }
"""


def doors() -> dict[str, HookDoor]:
    zendesk = load_source(SHIPPED / "zendesk.toml")
    jira = load_source(SHIPPED / "jira-service-management.toml")
    portal = parse_source(SW_MAPPING, "portal")
    return {"zendesk": HookDoor(zendesk, verifier_for(zendesk.verify, [ZENDESK_SECRET])),
            "jira-service-management": HookDoor(jira, verifier_for(jira.verify, [JIRA_SECRET])),
            "portal": HookDoor(portal, verifier_for(portal.verify, [SW_SECRET]))}


async def events_of(env: WorkflowEnvironment, ticket_id: str) -> list[int]:
    return [e.event_type async for e in env.client.get_workflow_handle(ticket_id).fetch_history_events()]


MESSAGES = (EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED, EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED)


async def messages_of(env: WorkflowEnvironment, ticket_id: str) -> int:
    """Updates and signals the ticket took (its own timers and activities go on meanwhile)."""
    return sum(1 for t in await events_of(env, ticket_id) if t in MESSAGES)


async def test_a_zendesk_ticket_lives_through_its_webhooks(store, dev_env: WorkflowEnvironment, tmp_path, unique: str) -> None:
    keys_file, _ = make_keys(tmp_path)
    intake = make_intake(dev_env.client, tmp_path, keys_file, hooks=doors())
    number = str(int(unique, 16))
    ticket_id = f"ZD-{number}"
    now = datetime.now(UTC)
    async with build_worker(dev_env.client, store=store), serving(intake) as base, httpx.AsyncClient(base_url=base, timeout=30) as http:
        created = zendesk_payload("ticket_created.json", number, now)
        first = await http.post("/v1/hooks/zendesk", content=created, headers=zendesk_headers(created, f"inv-1-{unique}"))
        assert first.status_code == 200, first.text
        assert first.json()["events"] == [{"ticket_id": ticket_id, "type": "open", "event_id": f"hook:zendesk:ticket_created.json-{number}",
                                           "outcome": "opened", "reason": None}]
        handle = dev_env.client.get_workflow_handle_for(TicketWorkflow.run, ticket_id)
        view = await handle.query(TicketWorkflow.state)
        assert view.state.severity.value == "sev1" and view.state.ticket.customer == "ZD-ORG-8447346622462"
        assert view.state.ticket.channel == "portal" and view.state.ticket.via == "hook:zendesk"
        before = await messages_of(dev_env, ticket_id)

        replay = await http.post("/v1/hooks/zendesk", content=created, headers=zendesk_headers(created, f"inv-1-{unique}"))
        assert replay.status_code == 200 and replay.json() == first.json()  # the first answer; nothing applied
        assert await messages_of(dev_env, ticket_id) == before == 0

        comment = zendesk_payload("comment_added_agent_public.json", number, datetime.now(UTC))
        applied = await http.post("/v1/hooks/zendesk", content=comment, headers=zendesk_headers(comment, f"inv-2-{unique}"))
        assert applied.status_code == 200 and applied.json()["events"][0]["outcome"] == "applied"
        # A retry, or a replay under a new invocation id (not signed), is the same delivery: the first answer.
        retried = await http.post("/v1/hooks/zendesk", content=comment, headers=zendesk_headers(comment, f"inv-2b-{unique}"))
        assert retried.status_code == 200 and retried.json() == applied.json()
        assert (await handle.query(TicketWorkflow.state)).state.responses == 1

        for name, status in (("status_changed_pending.json", "waiting_on_customer"), ("comment_added_requester.json", "pending"),
                             ("status_changed_solved.json", "solved")):
            body = zendesk_payload(name, number, datetime.now(UTC))
            answer = await http.post("/v1/hooks/zendesk", content=body, headers=zendesk_headers(body, f"{name}-{unique}"))
            assert answer.status_code == 200 and all(e["outcome"] == "applied" for e in answer.json()["events"]), answer.text
            assert (await handle.query(TicketWorkflow.state)).state.status.value == status

        ignored = zendesk_payload("tags_changed.json", number, datetime.now(UTC))
        answer = await http.post("/v1/hooks/zendesk", content=ignored, headers=zendesk_headers(ignored, f"tags-{unique}"))
        assert answer.status_code == 200 and answer.json()["events"] == [] and "no rule matches" in answer.json()["ignored"]

        # Refused at the door: nothing reaches the ticket.
        body = zendesk_payload("comment_added_requester.json", number, datetime.now(UTC), event_id=f"x-{unique}")
        tampered = body.replace(b"\"body\"", b"\"body \"", 1) if b"\"body\"" in body else body + b" "
        checks = [
            (body, zendesk_headers(body, f"w-{unique}", secret="wrong"), 401, "x-zendesk-webhook-signature"),
            (tampered, zendesk_headers(body, f"t-{unique}"), 401, "x-zendesk-webhook-signature"),
            (body, zendesk_headers(body, f"s-{unique}", at=datetime.now(UTC) - timedelta(minutes=6)), 401, "more than 5 min"),
            (body, zendesk_headers(body, f"f-{unique}", at=datetime.now(UTC) + timedelta(minutes=6)), 401, "more than 5 min"),
            (body, {"Content-Type": "application/json"}, 401, "missing"),
            (b"{not json", zendesk_headers(b"{not json", f"j-{unique}"), 400, "not JSON"),
            (b'{"type": "zen:event-type:ticket.created"}', zendesk_headers(b'{"type": "zen:event-type:ticket.created"}', f"e-{unique}"), 422, "$.detail"),
            (body, {**zendesk_headers(body, f"c-{unique}"), "Content-Type": "text/plain"}, 415, "Content-Type"),
        ]
        for content, headers, status, says in checks:
            answer = await http.post("/v1/hooks/zendesk", content=content, headers=headers)
            assert answer.status_code == status and says in answer.json()["detail"], (status, answer.text)
            assert answer.headers["content-type"] == "application/problem+json"
        assert ZENDESK_SECRET not in answer.text
        taken = await messages_of(dev_env, ticket_id)
        history = await events_of(dev_env, ticket_id)
    assert taken == 4  # the comment (once, though sent twice), pending, the requester's reply, solved; nothing refused at the door
    assert EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED not in history
    _, rows = store.timeline(ticket_id)
    assert {r["detail"].get("via") for r in rows if r["kind"] in ("opened", "responded", "resolved")} == {"hook:zendesk"}


async def test_unsigned_requests_do_not_use_up_a_sources_rate(dev_env: WorkflowEnvironment, tmp_path, unique: str) -> None:
    from intake.rate_limit import RateLimit

    keys_file, _ = make_keys(tmp_path)
    intake = make_intake(dev_env.client, tmp_path, keys_file, hooks=doors(), rate_limit=RateLimit(1))
    body = json.dumps({"kind": "something.else"}).encode()
    async with serving(intake) as base, httpx.AsyncClient(base_url=base, timeout=30) as http:
        unsigned = [(await http.post("/v1/hooks/portal", content=body, headers={"Content-Type": "application/json"})).status_code for _ in range(20)]
        at = datetime.now(UTC)
        signed = {"Content-Type": "application/json", "webhook-id": f"m-{unique}", "webhook-timestamp": str(int(at.timestamp())),
                  "webhook-signature": Webhook(SW_SECRET).sign(f"m-{unique}", at, body.decode())}
        answer = await http.post("/v1/hooks/portal", content=body, headers=signed)
    assert set(unsigned) == {401}
    assert answer.status_code == 200 and answer.json()["events"] == [] and "no rule matches" in answer.json()["ignored"]


async def test_jira_and_standard_webhooks_sources(store, dev_env: WorkflowEnvironment, tmp_path, unique: str) -> None:
    keys_file, _ = make_keys(tmp_path)
    intake = make_intake(dev_env.client, tmp_path, keys_file, hooks=doors())
    key = f"SUP-{int(unique, 16)}"
    async with build_worker(dev_env.client, store=store), serving(intake) as base, httpx.AsyncClient(base_url=base, timeout=30) as http:
        created = jira_payload("issue_created.json", key, datetime.now(UTC))
        opened = await http.post("/v1/hooks/jira-service-management", content=created, headers=jira_headers(created, f"j1-{unique}"))
        assert opened.status_code == 200 and opened.json()["events"][0]["outcome"] == "opened", opened.text
        comment = jira_payload("comment_created_agent_public.json", key, datetime.now(UTC))
        answer = await http.post("/v1/hooks/jira-service-management", content=comment, headers=jira_headers(comment, f"j2-{unique}"))
        assert answer.status_code == 200 and answer.json()["events"][0]["outcome"] == "applied", answer.text
        state = (await dev_env.client.get_workflow_handle_for(TicketWorkflow.run, key).query(TicketWorkflow.state)).state
        assert state.responses == 1 and state.ticket.via == "hook:jira-service-management"
        wrong = await http.post("/v1/hooks/jira-service-management", content=comment, headers=jira_headers(comment, f"j3-{unique}", secret="nope"))
        assert wrong.status_code == 401 and "x-hub-signature" in wrong.json()["detail"]
        # A captured delivery replayed under another (unsigned) identifier applies nothing.
        replayed = await http.post("/v1/hooks/jira-service-management", content=comment, headers=jira_headers(comment, f"replayed-{unique}"))
        assert replayed.json() == answer.json()
        state = (await dev_env.client.get_workflow_handle_for(TicketWorkflow.run, key).query(TicketWorkflow.state)).state
        assert state.responses == 1

        portal_id = f"P-{unique}"
        body = json.dumps({"kind": "incident.opened", "ticket": portal_id, "account": f"ACME-{unique}", "summary": "Login fails", "level": "P2"}).encode()
        hook = Webhook(SW_SECRET)
        at = datetime.now(UTC)
        headers = {"Content-Type": "application/json", "webhook-id": f"msg_{unique}", "webhook-timestamp": str(int(at.timestamp())),
                   "webhook-signature": hook.sign(f"msg_{unique}", at, body.decode())}
        first = await http.post("/v1/hooks/portal", content=body, headers=headers)
        assert first.status_code == 200 and first.json()["events"][0]["outcome"] == "opened", first.text
        assert (await http.post("/v1/hooks/portal", content=body, headers=headers)).json() == first.json()  # a replayed webhook-id
        stale_at = at - timedelta(minutes=10)
        stale = {**headers, "webhook-id": f"msg2_{unique}", "webhook-timestamp": str(int(stale_at.timestamp())),
                 "webhook-signature": hook.sign(f"msg2_{unique}", stale_at, body.decode())}
        answer = await http.post("/v1/hooks/portal", content=body, headers=stale)
        assert answer.status_code == 401 and "webhook-timestamp" in answer.json()["detail"]
        unknown_level = body.replace(b'"P2"', b'"P9"')
        signed = {**headers, "webhook-id": f"msg3_{unique}", "webhook-signature": hook.sign(f"msg3_{unique}", at, unknown_level.decode())}
        answer = await http.post("/v1/hooks/portal", content=unknown_level, headers=signed)
        assert answer.status_code == 422 and "$.level" in answer.json()["detail"], answer.text
