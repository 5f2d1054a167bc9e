"""The HTTP intake against the real dev server, a real worker and real HTTP: open, drive, read, list.

Every request goes through uvicorn and httpx; nothing is mocked. What matters most: a repeat is
never applied twice (also from a second replica), the acting key is in the timeline, and an
event for a ticket no worker runs is queued (202) and applied later at its time.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime

import httpx
import pytest
from openapi_spec_validator import validate
from temporalio.testing import WorkflowEnvironment

from intake.rate_limit import RateLimit
from tests.intake_server import make_intake, make_keys, serving
from worker.main import build_worker
from workflows.ticket import TicketWorkflow

pytestmark = pytest.mark.devserver


def auth(key: str, idem: str | None = None) -> dict[str, str]:
    headers = {"Authorization": f"Bearer {key}"}
    if idem is not None:
        headers["Idempotency-Key"] = idem
    return headers


async def test_a_ticket_opened_and_driven_over_http_once_per_key(store, dev_env: WorkflowEnvironment, tmp_path, unique: str) -> None:
    keys_file, keys = make_keys(tmp_path)
    intake = make_intake(dev_env.client, tmp_path, keys_file)
    body = {"customer": f"ACME-{unique}", "title": "Checkout is down", "severity": "sev1", "channel": "portal", "plan": "enterprise"}
    async with build_worker(dev_env.client, store=store), serving(intake) as base, httpx.AsyncClient(base_url=base, timeout=30) as http:
        first = await http.post("/v1/tickets", json=body, headers=auth(keys["rw"], f"open-{unique}"))
        assert first.status_code == 201, first.text
        opened = first.json()
        ticket_id = opened["ticket_id"]
        assert ticket_id.startswith("T-") and opened["created"] is True and ticket_id in opened["ui_url"]
        reordered = json.dumps(dict(reversed(list(body.items()))), indent=2)  # the same JSON, spelt otherwise
        again = await http.post("/v1/tickets", content=reordered, headers={**auth(keys["rw"], f"open-{unique}"), "Content-Type": "application/json"})
        assert again.status_code == 200 and again.json() == {**opened, "created": False}  # the first answer, nothing new
        other = await http.post("/v1/tickets", json={**body, "title": "Something else"}, headers=auth(keys["rw"], f"open-{unique}"))
        assert other.status_code == 409 and other.headers["content-type"] == "application/problem+json"
        assert other.json()["type"] == "urn:escalator:problem:idempotency-conflict" and "Idempotency-Key" in other.json()["detail"]

        ack = await http.post(f"/v1/tickets/{ticket_id}/events", json={"type": "acknowledge", "by": "alice"}, headers=auth(keys["rw"], f"ack-{unique}"))
        assert ack.status_code == 200, ack.text
        assert ack.json()["state"]["acknowledged_by"] == "alice" and ack.json()["event_id"] == f"api:rw:ack-{unique}"
        respond = await http.post(f"/v1/tickets/{ticket_id}/events", json={"type": "respond", "by": "alice", "message_id": "m-1"},
                                  headers=auth(keys["rw"], f"respond-{unique}"))
        assert respond.status_code == 200, respond.text
        repeat = await http.post(f"/v1/tickets/{ticket_id}/events", json={"type": "respond", "by": "alice", "message_id": "m-1"},
                                 headers=auth(keys["rw"], f"respond-{unique}"))
        assert repeat.status_code == 200 and repeat.json()["state"]["responses"] == 1  # applied once

        refused = await http.post(f"/v1/tickets/{ticket_id}/events", json={"type": "acknowledge", "by": "bob"}, headers=auth(keys["rw"], f"ack2-{unique}"))
        assert refused.status_code == 422 and "already acknowledged" in refused.json()["detail"]
        assert refused.json()["type"] == "urn:escalator:problem:refused"

        view = await http.get(f"/v1/tickets/{ticket_id}", headers=auth(keys["read"]))
        assert view.status_code == 200 and view.json()["stale"] is False
        assert view.json()["view"]["state"]["status"] == "pending" and view.json()["summary"]["Severity"] == "sev1"
        assert view.json()["view"]["state"]["clocks"]["first_response"]["met_at"] is not None

        # A second replica (another app, the same store) answers the repeat from the store.
        async with serving(make_intake(dev_env.client, tmp_path, keys_file)) as base2, httpx.AsyncClient(base_url=base2, timeout=30) as http2:
            replica = await http2.post("/v1/tickets", json=body, headers=auth(keys["rw"], f"open-{unique}"))
            assert replica.status_code == 200 and replica.json()["ticket_id"] == ticket_id

        # Another key with the same Idempotency-Key is another request: its event applies too.
        other_key = await http.post(f"/v1/tickets/{ticket_id}/events", json={"type": "respond", "by": "bob"}, headers=auth(keys["write"], f"respond-{unique}"))
        assert other_key.status_code == 200 and other_key.json()["state"]["responses"] == 2
        assert other_key.json()["event_id"] == f"api:write:respond-{unique}"
        # Concurrent events without occurred_at each apply when the ticket handles them: none
        # trips the order rule over another (they were once dated when the API received them).
        concurrent = await asyncio.gather(*(http.post(f"/v1/tickets/{ticket_id}/events", json={"type": "customer_message"},
                                                      headers=auth(keys["rw"], f"cm{n}-{unique}")) for n in range(12)))
        assert [a.status_code for a in concurrent] == [200] * 12, [a.text for a in concurrent if a.status_code != 200]
        resolved = await http.post(f"/v1/tickets/{ticket_id}/events", json={"type": "resolve", "by": "alice"}, headers=auth(keys["write"], f"res-{unique}"))
        assert resolved.status_code == 200 and resolved.json()["state"]["status"] == "solved"
    _, rows = store.timeline(ticket_id)
    by_kind = {r["kind"]: r["detail"] for r in rows}
    assert by_kind["opened"]["via"] == "api:rw" and by_kind["acknowledged"]["via"] == "api:rw"
    assert by_kind["acknowledged"]["event"] == f"api:rw:ack-{unique}"
    assert any(r["detail"].get("via") == "api:write" for r in rows)  # the resolution, by the other key


async def test_with_no_worker_an_event_is_queued_then_applied_at_its_time(store, dev_env: WorkflowEnvironment, tmp_path, unique: str) -> None:
    keys_file, keys = make_keys(tmp_path)
    intake = make_intake(dev_env.client, tmp_path, keys_file, event_wait=1.0)
    ticket_id = f"T-q-{unique}"
    body = {"ticket_id": ticket_id, "customer": f"ACME-{unique}", "title": "Slow", "severity": "sev3"}
    async with serving(intake) as base, httpx.AsyncClient(base_url=base, timeout=30) as http:
        async with build_worker(dev_env.client, store=store):
            assert (await http.post("/v1/tickets", json=body, headers=auth(keys["rw"], f"o-{unique}"))).status_code == 201
            await dev_env.client.get_workflow_handle_for(TicketWorkflow.run, ticket_id).query(TicketWorkflow.state)
        at = datetime.now(UTC)
        queued = await http.post(f"/v1/tickets/{ticket_id}/events", json={"type": "respond", "by": "bob", "occurred_at": at.isoformat()},
                                 headers=auth(keys["rw"], f"r-{unique}"))
        assert queued.status_code == 202, queued.text
        assert queued.json()["queued"] is True and queued.json()["reason"].startswith("no worker") and queued.json()["state"] is None
        stale = await http.get(f"/v1/tickets/{ticket_id}", headers=auth(keys["read"]))
        assert stale.status_code == 200 and stale.json()["stale"] is True and stale.json()["summary"]["TicketStatus"] == "open"
        async with build_worker(dev_env.client, store=store):
            for _ in range(100):
                view = (await http.get(f"/v1/tickets/{ticket_id}", headers=auth(keys["read"]))).json()
                if view["view"] and view["view"]["state"]["responses"] == 1:
                    break
                await asyncio.sleep(0.1)
            assert datetime.fromisoformat(view["view"]["state"]["clocks"]["first_response"]["met_at"]) == at  # when it happened


async def test_keys_scopes_and_rate_limit(store, dev_env: WorkflowEnvironment, tmp_path, unique: str) -> None:
    keys_file, keys = make_keys(tmp_path)
    intake = make_intake(dev_env.client, tmp_path, keys_file, rate_limit=RateLimit(2))
    body = {"customer": f"ACME-{unique}", "title": "t", "severity": "sev4"}
    async with serving(intake) as base, httpx.AsyncClient(base_url=base, timeout=30) as http:
        read_only = await http.post("/v1/tickets", json=body, headers=auth(keys["read"], f"k-{unique}"))
        assert read_only.status_code == 403 and "'write' scope" in read_only.json()["detail"]
        assert (await http.get("/v1/tickets", headers=auth(keys["write"]))).status_code == 403
        no_key = await http.get("/v1/tickets")
        assert no_key.status_code == 401 and no_key.headers["www-authenticate"].startswith("Bearer")
        assert (await http.get("/v1/tickets", headers=auth("esk_" + "x" * 43))).status_code == 401
        statuses = [(await http.get("/v1/tickets", headers=auth(keys["admin"]))).status_code for _ in range(6)]
        assert statuses[:4] == [200] * 4 and statuses[-1] == 429  # a burst of twice the rate, then limited
        limited = await http.get("/v1/tickets", headers=auth(keys["admin"]))
        assert int(limited.headers["retry-after"]) >= 1
        # Another key has its own budget.
        assert (await http.get("/v1/tickets", headers=auth(keys["rw"]))).status_code == 200
        # A key added to the file works without a restart; a key is never echoed.
        from intake.api_keys import create_key

        late = create_key(keys_file, "late", ["read"])
        answer = await http.get("/v1/tickets", headers=auth(late))
        assert answer.status_code == 200 and late not in answer.text


async def test_list_pages_with_a_cursor_and_filters(store, dev_env: WorkflowEnvironment, tmp_path, unique: str) -> None:
    keys_file, keys = make_keys(tmp_path)
    intake = make_intake(dev_env.client, tmp_path, keys_file)
    customer = f"LIST-{unique}"
    async with build_worker(dev_env.client, store=store), serving(intake) as base, httpx.AsyncClient(base_url=base, timeout=30) as http:
        for n in range(5):
            answer = await http.post("/v1/tickets", json={"customer": customer, "title": f"t{n}", "severity": "sev2" if n < 3 else "sev3"},
                                     headers=auth(keys["rw"], f"l{n}-{unique}"))
            assert answer.status_code == 201
        for _ in range(100):  # visibility lags a little
            page = (await http.get("/v1/tickets", params={"customer": customer, "limit": 2}, headers=auth(keys["read"]))).json()
            seen = [t["ticket_id"] for t in page["tickets"]]
            cursor = page["cursor"]
            while cursor:
                following = (await http.get("/v1/tickets", params={"customer": customer, "limit": 2, "cursor": cursor}, headers=auth(keys["read"]))).json()
                seen += [t["ticket_id"] for t in following["tickets"]]
                cursor = following["cursor"]
            if len(seen) == 5:
                break
            await asyncio.sleep(0.2)
        assert len(set(seen)) == 5 and "Customer = " in page["query"]
        sev2 = (await http.get("/v1/tickets", params={"customer": customer, "severity": "sev2"}, headers=auth(keys["read"]))).json()
        assert len(sev2["tickets"]) == 3 and {t["severity"] for t in sev2["tickets"]} == {"sev2"}


async def test_openapi_document_validates_and_describes_every_event(dev_env: WorkflowEnvironment, tmp_path) -> None:
    keys_file, _ = make_keys(tmp_path)
    async with serving(make_intake(dev_env.client, tmp_path, keys_file)) as base, httpx.AsyncClient(base_url=base) as http:
        doc = (await http.get("/v1/openapi.json")).json()
        health = await http.get("/v1/healthz")
        ready = await http.get("/v1/readyz")
    validate(doc)  # openapi-spec-validator: raises on an invalid document
    schemas = doc["components"]["schemas"]
    assert {"OpenTicket", "Event", "ProblemDocument", "RespondEvent", "AddActionEvent"} <= set(schemas)
    assert set(schemas["Event"]["discriminator"]["mapping"]) >= {"respond", "resolve", "customer_message", "complete_obligation"}
    assert "/v1/tickets/{ticket_id}/events" in doc["paths"] and "/v1/hooks/{source}" in doc["paths"]
    assert health.json() == {"status": "ok"}
    assert ready.status_code == 200 and ready.json()["checks"] == {"temporal": "ok", "ticket_store": "ok", "api_keys": "ok"}


async def test_idempotency_answers_survive_on_postgres(postgres_url: str, dev_env: WorkflowEnvironment, tmp_path, unique: str, store) -> None:
    """The answers live in the ticket store: on PostgreSQL too, a new app (a restart) answers a repeat."""
    keys_file, keys = make_keys(tmp_path)
    body = {"customer": f"PG-{unique}", "title": "t", "severity": "sev4", "ticket_id": f"T-pg-{unique}"}
    key = str(uuid.uuid4())
    async with build_worker(dev_env.client, store=store):
        async with serving(make_intake(dev_env.client, tmp_path, keys_file, database_url=postgres_url)) as base, httpx.AsyncClient(base_url=base, timeout=30) as http:
            assert (await http.post("/v1/tickets", json=body, headers=auth(keys["rw"], key))).status_code == 201
        async with serving(make_intake(dev_env.client, tmp_path, keys_file, database_url=postgres_url)) as base, httpx.AsyncClient(base_url=base, timeout=30) as http:
            again = await http.post("/v1/tickets", json=body, headers=auth(keys["rw"], key))
            conflict = await http.post("/v1/tickets", json={**body, "severity": "sev3"}, headers=auth(keys["rw"], key))
    assert again.status_code == 200 and again.json()["ticket_id"] == f"T-pg-{unique}"
    assert conflict.status_code == 409
