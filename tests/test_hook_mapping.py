"""Inbound helpdesk webhooks without a server: the verifiers, the mapping engine, the shipped
mappings (on payloads in tests/payloads/, written in each product's documented shape) and
`escalator hooks check`."""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from standardwebhooks import Webhook
from starlette.datastructures import Headers

from intake.hooks.mapping import (
    SHIPPED, HookSource, Mapped, MappingError, PayloadError, VerifyConfig, load_source, load_sources, parse_source, secrets_of,
)
from intake.hooks.verify import TOLERANCE, DeliveryRefused, body_digest, verifier_for
from intake.wire import EVENT_BODIES, OpenTicket, message
from starter.hooks_commands import add_hooks_commands, run_hooks_command

PAYLOADS = Path(__file__).parent / "payloads"
NOW = datetime(2026, 11, 29, 20, 0, tzinfo=UTC)
BODY = b'{"type":"zen:event-type:ticket.created","detail":{"id":"5158"}}'


def refused(verifier, headers: dict, body: bytes = BODY, now: datetime = NOW) -> str:
    with pytest.raises(DeliveryRefused) as caught:
        verifier.verify(Headers(headers=headers), body, now)
    return str(caught.value)


# -- standard-webhooks --------------------------------------------------------------------------

SW_OLD = "whsec_" + base64.b64encode(b"o" * 32).decode()
SW_NEW = "whsec_" + base64.b64encode(b"n" * 32).decode()


def sw_headers(secret: str, at: datetime = NOW, msg_id: str = "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W", body: bytes = BODY) -> dict:
    return {"webhook-id": msg_id, "webhook-timestamp": str(int(at.timestamp())),
            "webhook-signature": Webhook(secret).sign(msg_id, at, body.decode())}


def test_standard_webhooks_passes_with_the_delivery_id():
    verifier = verifier_for(VerifyConfig(scheme="standard-webhooks", secrets_env=["S"]), [SW_NEW])
    assert verifier.verify(Headers(headers=sw_headers(SW_NEW)), BODY, NOW) == "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W"
    # Header names are case-insensitive, also in a plain dict.
    upper = {k.upper(): v for k, v in sw_headers(SW_NEW).items()}
    assert verifier.verify(upper, BODY, NOW) == "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W"


def test_standard_webhooks_accepts_what_the_package_signs_and_verifies():
    """Interop with the `standardwebhooks` package itself, at the wall clock it uses."""
    now = datetime.now(UTC)
    headers = sw_headers(SW_NEW, at=now)
    Webhook(SW_NEW).verify(BODY, headers)
    assert verifier_for(VerifyConfig(scheme="standard-webhooks", secrets_env=["S"]), [SW_NEW]).verify(headers, BODY, now)


def test_standard_webhooks_refusals():
    verifier = verifier_for(VerifyConfig(scheme="standard-webhooks", secrets_env=["S"]), [SW_NEW])
    good = sw_headers(SW_NEW)
    assert refused(verifier, sw_headers(SW_OLD)) == "webhook-signature: no signature matches (secret rotated? wrong secret?)"
    assert refused(verifier, good, body=BODY.replace(b"5158", b"5159")).startswith("webhook-signature: no signature matches")
    for name in ("webhook-id", "webhook-timestamp", "webhook-signature"):
        assert refused(verifier, {k: v for k, v in good.items() if k != name}) == f"{name}: missing"
    stale = sw_headers(SW_NEW, at=NOW - timedelta(minutes=6))
    assert refused(verifier, stale) == (f"webhook-timestamp: {stale['webhook-timestamp']} (2026-11-29T19:54:00Z) is 6 min before now "
                                        "(more than 5 min: a replay or a wrong clock)")
    future = sw_headers(SW_NEW, at=NOW + timedelta(minutes=7))
    assert "(2026-11-29T20:07:00Z) is 7 min after now (more than 5 min: a replay or a wrong clock)" in refused(verifier, future)
    days_old = sw_headers(SW_NEW, at=NOW - timedelta(days=3, hours=4, minutes=1))
    assert "is 3 d 4 h before now" in refused(verifier, days_old)
    assert refused(verifier, {**good, "webhook-timestamp": "2026-11-29T20:00:00Z"}) == "webhook-timestamp: '2026-11-29T20:00:00Z' is not Unix seconds"
    assert refused(verifier, {**good, "webhook-signature": "v1a,abc v2,xyz"}) == "webhook-signature: no v1 signature (expected v1,<base64>)"
    # Within the tolerance either way is fine.
    assert verifier.verify(sw_headers(SW_NEW, at=NOW - TOLERANCE), BODY, NOW)
    assert verifier.verify(sw_headers(SW_NEW, at=NOW + TOLERANCE), BODY, NOW)


def test_standard_webhooks_rotation_and_several_signatures():
    rotating = verifier_for(VerifyConfig(scheme="standard-webhooks", secrets_env=["S", "P"]), [SW_NEW, SW_OLD])
    assert rotating.verify(sw_headers(SW_OLD), BODY, NOW)
    assert rotating.verify(sw_headers(SW_NEW), BODY, NOW)
    # A sender mid-rotation signs with both; junk entries beside a good one do not matter.
    both = sw_headers(SW_NEW)
    both["webhook-signature"] = f"v1,!!notbase64 v1a,abc {sw_headers(SW_OLD)['webhook-signature']}"
    assert verifier_for(VerifyConfig(scheme="standard-webhooks", secrets_env=["P"]), [SW_OLD]).verify(both, BODY, NOW)


def test_standard_webhooks_secrets_must_be_whsec_base64():
    config = VerifyConfig(scheme="standard-webhooks", secrets_env=["S"])
    with pytest.raises(ValueError, match=r"^standard-webhooks secret #2 is not whsec_ followed by base64$"):
        verifier_for(config, [SW_NEW, "hunter2-not-base64!"])
    with pytest.raises(ValueError, match="no secret"):
        verifier_for(config, [])
    with pytest.raises(ValueError, match="no secret"):
        verifier_for(VerifyConfig(scheme="jira", secrets_env=["S"]), [""])


# -- zendesk ------------------------------------------------------------------------------------

ZD_SECRET = "dGhpc19zZWNyZXRfaXNfZm9yX3Rlc3Rpbmdfb25seQ=="  # used as text, as Zendesk's own example does
ZD_OLD = "HRkRd4BeOAoUkfZr-mhauJT64rvBASlJRoIyPsd3zeA="


def zd_headers(secret: str, stamp: str = "2026-11-29T19:59:30Z", body: bytes = BODY, invocation: str | None = "8350205582") -> dict:
    # base64(HMACSHA256(TIMESTAMP + BODY)), developer.zendesk.com/documentation/webhooks/verifying/
    signature = base64.b64encode(hmac.new(secret.encode(), stamp.encode() + body, hashlib.sha256).digest()).decode()
    headers = {"X-Zendesk-Webhook-Signature": signature, "X-Zendesk-Webhook-Signature-Timestamp": stamp,
               "X-Zendesk-Webhook-Id": "01F1KRFQ6BG29CNWFR60NK5FNY", "X-Zendesk-Account-Id": "22129848"}
    if invocation:
        headers["X-Zendesk-Webhook-Invocation-Id"] = invocation
    return headers


def test_zendesk_passes_with_the_body_digest_as_delivery_id():
    verifier = verifier_for(VerifyConfig(scheme="zendesk", secrets_env=["Z"]), [ZD_SECRET])
    # The invocation id is not signed: a replay under a new one must be the same delivery.
    assert verifier.verify(Headers(headers=zd_headers(ZD_SECRET)), BODY, NOW) == body_digest(BODY)
    assert verifier.verify(Headers(headers=zd_headers(ZD_SECRET, invocation="another")), BODY, NOW) == body_digest(BODY)
    assert verifier.verify(Headers(headers=zd_headers(ZD_SECRET, invocation=None)), BODY, NOW) == body_digest(BODY)
    assert body_digest(BODY) == "sha256:" + hashlib.sha256(BODY).hexdigest()
    # An offset other than Z is an ISO 8601 instant too; the header is signed as sent.
    assert verifier.verify(zd_headers(ZD_SECRET, stamp="2026-11-29T21:01:00+01:00"), BODY, NOW)


def test_zendesk_refusals():
    verifier = verifier_for(VerifyConfig(scheme="zendesk", secrets_env=["Z"]), [ZD_SECRET])
    good = zd_headers(ZD_SECRET)
    assert refused(verifier, zd_headers(ZD_OLD)) == "x-zendesk-webhook-signature: no signature matches (secret rotated? wrong secret?)"
    assert refused(verifier, good, body=BODY + b" ").startswith("x-zendesk-webhook-signature: no signature matches")
    assert refused(verifier, {k: v for k, v in good.items() if k != "X-Zendesk-Webhook-Signature"}) == "x-zendesk-webhook-signature: missing"
    assert refused(verifier, {k: v for k, v in good.items() if "Timestamp" not in k}) == "x-zendesk-webhook-signature-timestamp: missing"
    assert refused(verifier, zd_headers(ZD_SECRET, stamp="2026-11-29T19:50:00Z")) == (
        "x-zendesk-webhook-signature-timestamp: 2026-11-29T19:50:00Z is 10 min before now (more than 5 min: a replay or a wrong clock)")
    assert refused(verifier, zd_headers(ZD_SECRET, stamp="2026-11-29T20:05:30Z")) == (
        "x-zendesk-webhook-signature-timestamp: 2026-11-29T20:05:30Z is 5 min 30 s after now (more than 5 min: a replay or a wrong clock)")
    assert refused(verifier, zd_headers(ZD_SECRET, stamp="yesterday")) == "x-zendesk-webhook-signature-timestamp: 'yesterday' is not an ISO 8601 instant"
    assert refused(verifier, zd_headers(ZD_SECRET, stamp="2026-11-29T19:59:30")) == (
        "x-zendesk-webhook-signature-timestamp: '2026-11-29T19:59:30' has no UTC offset")


def test_zendesk_rotation():
    rotating = verifier_for(VerifyConfig(scheme="zendesk", secrets_env=["Z", "ZP"]), [ZD_SECRET, ZD_OLD])
    assert rotating.verify(zd_headers(ZD_OLD), BODY, NOW) == body_digest(BODY)
    assert rotating.verify(zd_headers(ZD_SECRET), BODY, NOW) == body_digest(BODY)


# -- jira ---------------------------------------------------------------------------------------

JIRA_SECRET = "It's a Secret to Everybody"
JIRA_OLD = "previous-secret-0b9f"


def jira_headers(secret: str, body: bytes = BODY, identifier: str | None = "b0b5e4a3-7c1d-4b8e-9f2a-3c4d5e6f7a8b") -> dict:
    # X-Hub-Signature: sha256=<hex HMAC-SHA256(secret, body)> (WebSub's method=signature)
    headers = {"X-Hub-Signature": "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest(),
               "X-Atlassian-Webhook-Flow": "Primary"}
    if identifier:
        headers["X-Atlassian-Webhook-Identifier"] = identifier
    return headers


def test_jira_passes_with_the_body_digest_as_delivery_id():
    verifier = verifier_for(VerifyConfig(scheme="jira", secrets_env=["J"]), [JIRA_SECRET])
    # X-Atlassian-Webhook-Identifier is not signed: a replay under another one is the same delivery.
    assert verifier.verify(Headers(headers=jira_headers(JIRA_SECRET)), BODY, NOW) == body_digest(BODY)
    assert verifier.verify(Headers(headers=jira_headers(JIRA_SECRET, identifier="replayed")), BODY, NOW) == body_digest(BODY)
    assert verifier.verify(jira_headers(JIRA_SECRET, identifier=None), BODY, NOW) == body_digest(BODY)
    upper = jira_headers(JIRA_SECRET)
    upper["X-Hub-Signature"] = "sha256=" + upper["X-Hub-Signature"].partition("=")[2].upper()
    assert verifier.verify(upper, BODY, NOW)
    # No timestamp is signed: an old delivery still verifies; the delivery id is the replay guard.
    assert verifier.verify(jira_headers(JIRA_SECRET), BODY, NOW + timedelta(days=30))


def test_jira_refusals_and_rotation():
    verifier = verifier_for(VerifyConfig(scheme="jira", secrets_env=["J"]), [JIRA_SECRET])
    assert refused(verifier, jira_headers(JIRA_OLD)) == "x-hub-signature: no signature matches (secret rotated? wrong secret?)"
    assert refused(verifier, jira_headers(JIRA_SECRET), body=BODY[:-1]).startswith("x-hub-signature: no signature matches")
    assert refused(verifier, {"X-Atlassian-Webhook-Identifier": "1"}) == "x-hub-signature: missing (is the webhook registered with a secret?)"
    sha1 = {"X-Hub-Signature": "sha1=" + hmac.new(JIRA_SECRET.encode(), BODY, hashlib.sha1).hexdigest()}
    assert refused(verifier, sha1) == "x-hub-signature: not sha256=<hex>"
    rotating = verifier_for(VerifyConfig(scheme="jira", secrets_env=["J", "JP"]), [JIRA_SECRET, JIRA_OLD])
    assert rotating.verify(jira_headers(JIRA_OLD), BODY, NOW)


# -- shared-secret ------------------------------------------------------------------------------

def test_shared_secret():
    config = VerifyConfig(scheme="shared-secret", secrets_env=["A", "B"], header="X-Desk-Token")
    verifier = verifier_for(config, ["s3cret-new", "s3cret-old"])
    assert verifier.verify({"x-desk-token": "s3cret-old", "X-Desk-Delivery": "d-77"}, BODY, NOW) == body_digest(BODY)
    assert verifier.verify({"X-Desk-Token": "s3cret-new"}, BODY, NOW) == body_digest(BODY)
    assert refused(verifier, {"X-Desk-Token": "s3cret"}) == "x-desk-token: does not match (secret rotated? wrong secret?)"
    assert refused(verifier, {"X-Webhook-Secret": "s3cret-new"}) == "x-desk-token: missing"
    default = verifier_for(VerifyConfig(scheme="shared-secret", secrets_env=["A"]), ["s3cret-new"])
    assert default.verify({"X-Webhook-Secret": "s3cret-new", "X-Desk-Delivery": "d-77"}, BODY, NOW) == body_digest(BODY)


def test_no_refusal_names_a_secret_or_a_signature():
    cases = [
        (verifier_for(VerifyConfig(scheme="standard-webhooks", secrets_env=["S"]), [SW_NEW]), sw_headers(SW_OLD), [SW_NEW, sw_headers(SW_NEW)["webhook-signature"].partition(",")[2]]),
        (verifier_for(VerifyConfig(scheme="zendesk", secrets_env=["Z"]), [ZD_SECRET]), zd_headers(ZD_OLD), [ZD_SECRET, zd_headers(ZD_SECRET)["X-Zendesk-Webhook-Signature"]]),
        (verifier_for(VerifyConfig(scheme="jira", secrets_env=["J"]), [JIRA_SECRET]), jira_headers(JIRA_OLD), [JIRA_SECRET, jira_headers(JIRA_SECRET)["X-Hub-Signature"].partition("=")[2]]),
        (verifier_for(VerifyConfig(scheme="shared-secret", secrets_env=["A"]), ["s3cret"]), {"X-Webhook-Secret": "s3cre"}, ["s3cret"]),
    ]
    for verifier, headers, hidden in cases:
        line = refused(verifier, headers)
        assert "\n" not in line
        for secret in hidden:
            assert secret not in line


# -- the shipped mappings -----------------------------------------------------------------------

def payload(product: str, name: str):
    return json.loads((PAYLOADS / product / f"{name}.json").read_text())


@pytest.fixture(scope="module")
def zendesk() -> HookSource:
    return load_source(SHIPPED / "zendesk.toml")


@pytest.fixture(scope="module")
def jsm() -> HookSource:
    return load_source(SHIPPED / "jira-service-management.toml")


def events(mapped: Mapped) -> list[tuple[str, str, dict]]:
    return [(e.ticket_id, e.type, e.fields) for e in mapped.events]


def test_the_shipped_mappings_load():
    sources = load_sources(SHIPPED)
    assert {name: (s.verify.scheme, s.verify.secrets_env) for name, s in sources.items()} == {
        "zendesk": ("zendesk", ["ZENDESK_WEBHOOK_SECRET", "ZENDESK_WEBHOOK_SECRET_PREVIOUS"]),
        "jira-service-management": ("jira", ["JSM_WEBHOOK_SECRET", "JSM_WEBHOOK_SECRET_PREVIOUS"]),
    }


ZENDESK_EXPECTED = {
    "ticket_created": [("ZD-5158", "open", {
        "customer": "ZD-ORG-8447346622462", "title": "Checkout returns 502 for every order", "severity": "sev1",
        "opened_at": "2026-11-29T09:12:07Z", "channel": "portal"})],
    "ticket_created_no_org_no_priority": [("ZD-5159", "open", {
        "customer": "ZD-NO-ORG", "title": "How do I export invoices?", "severity": "sev3",
        "opened_at": "2026-11-29T09:40:01Z", "channel": "email"})],
    "comment_added_agent_public": [("ZD-5158", "respond", {
        "by": "Alice Agent", "message_id": "9876543210", "occurred_at": "2026-11-29T09:25:30.123456789Z"})],
    "comment_added_requester": [("ZD-5158", "customer_message", {
        "message_id": "9876543377", "occurred_at": "2026-11-29T10:02:44.501000000Z"})],
    "status_changed_pending": [("ZD-5158", "set_status", {
        "status": "waiting_on_customer", "by": "zendesk:8447388090495", "reason": "Zendesk status Pending",
        "occurred_at": "2026-11-29T09:31:05.000000000Z"})],
    "status_changed_hold": [("ZD-5158", "set_status", {
        "status": "waiting_on_third_party", "by": "zendesk:8447388090495", "reason": "Zendesk status On-hold",
        "occurred_at": "2026-11-29T10:15:00.250000000Z"})],
    "status_changed_open_from_pending": [("ZD-5158", "set_status", {
        "status": "pending", "by": "zendesk:-1", "reason": "Zendesk status Open", "occurred_at": "2026-11-29T10:02:45.010000000Z"})],
    "status_changed_solved": [("ZD-5158", "resolve", {
        "by": "zendesk:8447388090495", "resolution": "Solved in Zendesk", "occurred_at": "2026-11-29T11:45:20.987654321Z"})],
    "priority_changed": [("ZD-5158", "change_severity", {
        "by": "zendesk:8447388090495", "severity": "sev2", "reason": "Zendesk priority changed",
        "occurred_at": "2026-11-29T09:18:15.456789012Z"})],
}

JIRA_EXPECTED = {
    "issue_created": [("SUP-42", "open", {
        "customer": "JSM-qm:6e1f4c1a-2b3d-4e5f-8a9b-0c1d2e3f4a5b:7c8d9e0f-1a2b-4c3d-9e4f-5a6b7c8d9e0f",
        "title": "Checkout returns 502 for every order", "severity": "sev1",
        "opened_at": "2026-11-29T09:12:11.123+0000", "channel": "portal"})],
    "comment_created_agent_public": [("SUP-42", "respond", {
        "by": "Alice Agent", "message_id": "100231", "occurred_at": "2026-11-29T09:25:30.450000Z"})],
    "comment_created_customer": [("SUP-42", "customer_message", {
        "message_id": "100240", "occurred_at": "2026-11-29T10:02:44.501000Z"})],
    "issue_updated_waiting_for_customer": [("SUP-42", "set_status", {
        "status": "waiting_on_customer", "by": "Alice Agent", "reason": "JSM status Waiting for customer",
        "occurred_at": "2026-11-29T09:31:05Z"})],
    "issue_updated_pending": [("SUP-42", "set_status", {
        "status": "waiting_on_third_party", "by": "Alice Agent", "reason": "JSM status Pending",
        "occurred_at": "2026-11-29T10:15:00.250000Z"})],
    "issue_updated_back_to_support": [("SUP-42", "set_status", {
        "status": "pending", "by": "Alice Agent", "reason": "JSM status back to support",
        "occurred_at": "2026-11-29T10:02:45.010000Z"})],
    "issue_updated_priority": [("SUP-42", "change_severity", {
        "by": "Alice Agent", "severity": "sev2", "reason": "Jira priority changed", "occurred_at": "2026-11-29T09:18:15.456000Z"})],
    # One update, two things: the severity first (a resolved ticket refuses a severity change).
    "issue_updated_resolved_and_priority": [
        ("SUP-42", "change_severity", {"by": "Alice Agent", "severity": "sev3", "reason": "Jira priority changed",
                                       "occurred_at": "2026-11-29T11:45:20.987000Z"}),
        ("SUP-42", "resolve", {"by": "Alice Agent", "resolution": "Done", "occurred_at": "2026-11-29T11:45:20.987000Z"})],
}


@pytest.mark.parametrize("name", sorted(ZENDESK_EXPECTED))
def test_zendesk_payloads(zendesk, name):
    mapped = zendesk.map(payload("zendesk", name))
    assert mapped.ignored is None
    assert events(mapped) == ZENDESK_EXPECTED[name]
    assert_ready_for_the_route(mapped, "zendesk")


@pytest.mark.parametrize("name", sorted(JIRA_EXPECTED))
def test_jira_payloads(jsm, name):
    mapped = jsm.map(payload("jira", name))
    assert mapped.ignored is None
    assert events(mapped) == JIRA_EXPECTED[name]
    assert_ready_for_the_route(mapped, "jira-service-management")


def assert_ready_for_the_route(mapped: Mapped, source: str) -> None:
    """Each event validates as the route will validate it."""
    for event in mapped.events:
        if event.type == "open":
            OpenTicket.model_validate({**event.fields, "ticket_id": event.ticket_id}).ticket(event.ticket_id, NOW, f"hook:{source}")
        else:
            message(EVENT_BODIES[event.type].model_validate({**event.fields, "type": event.type}), "E-1", f"hook:{source}")


def test_every_payload_file_maps_or_is_refused_in_one_line(zendesk, jsm):
    """Each file under tests/payloads/ (also those added for the HTTP tests) is an event list,
    an ignored delivery or one PayloadError line with its shipped mapping; the ones named here exist."""
    named = {("zendesk", n) for n in ZENDESK_EXPECTED} | {("jira", n) for n in JIRA_EXPECTED} | set(IGNORED)
    files = {(p.parent.name, p.stem): p for p in PAYLOADS.glob("*/*.json")}
    assert named <= set(files)
    for (product, name), path in files.items():
        try:
            mapped = {"zendesk": zendesk, "jira": jsm}[product].map(json.loads(path.read_text()))
            assert bool(mapped.events) != bool(mapped.ignored), name
        except PayloadError as exc:
            assert name.startswith("bad_") and "\n" not in str(exc), name


IGNORED = {
    ("zendesk", "comment_added_agent_private"): "no rule matches ($.type = zen:event-type:ticket.comment_added)",
    ("zendesk", "status_changed_new_to_open"): "no rule matches ($.type = zen:event-type:ticket.status_changed)",
    ("zendesk", "tags_changed"): "no rule matches ($.type = zen:event-type:ticket.tags_changed)",
    ("jira", "comment_created_agent_internal"): "no rule matches ($.webhookEvent = comment_created)",
    ("jira", "comment_created_automation"): "no rule matches ($.webhookEvent = comment_created)",
    ("jira", "issue_updated_summary"): "no rule matches ($.webhookEvent = jira:issue_updated)",
}


@pytest.mark.parametrize("product, name", sorted(IGNORED))
def test_ignored_payloads(zendesk, jsm, product, name):
    mapped = (zendesk if product == "zendesk" else jsm).map(payload(product, name))
    assert mapped.events == [] and mapped.ignored == IGNORED[product, name]


def test_payload_errors_of_the_shipped_mappings(zendesk, jsm):
    with pytest.raises(PayloadError, match=r"^\$\.detail\.id: missing \(ticket\.id\)$"):
        zendesk.map(payload("zendesk", "bad_ticket_created_without_id"))
    with pytest.raises(PayloadError) as caught:
        jsm.map(payload("jira", "bad_issue_created_blank_summary"))
    assert str(caught.value) == "$.issue.fields.summary: Value error, must say something (it is blank) (rules[0].fields.title)"
    long_name = payload("zendesk", "comment_added_agent_public")
    long_name["event"]["comment"]["author"]["name"] = "A" * 201
    with pytest.raises(PayloadError, match=r"^\$\.event\.comment\.author\.name: String should have at most 200 characters \(rules\[1\]\.fields\.by\)$"):
        zendesk.map(long_name)
    bad_time = payload("zendesk", "status_changed_pending")
    bad_time["time"] = "last tuesday"
    with pytest.raises(PayloadError, match=r"^\$\.time: Input should be a valid datetime.* \(ticket\.occurred_at\)$"):
        zendesk.map(bad_time)
    bad_epoch = payload("jira", "issue_updated_pending")
    bad_epoch["timestamp"] = "soon"
    with pytest.raises(PayloadError, match=r"^\$\.timestamp: 'soon' is not Unix time in milliseconds \(ticket\.occurred_at\)$"):
        jsm.map(bad_epoch)
    bad_id = payload("jira", "issue_updated_pending")
    bad_id["issue"]["key"] = "SUP 42"
    with pytest.raises(PayloadError, match=r"^\$\.issue\.key: 'SUP 42' is not a ticket id"):
        jsm.map(bad_id)


# -- the engine ---------------------------------------------------------------------------------

BASE = """
[verify]
scheme = "shared-secret"
secrets_env = ["DESK_SECRET"]

[ticket]
id = { path = "$.ticket", prefix = "D-" }
occurred_at = { path = "$.at" }

[[rules]]
when = { "$.kind" = "reply", "$.public" = true }
event = "respond"
[rules.fields]
by = { path = "$.agent" }

[[rules]]
when = { "$.kind" = ["reply", "note"], "$.level" = 2 }
event = "change_severity"
[rules.fields]
by = { value = "desk" }
severity = { path = "$.priority", map = { P1 = "sev1", P2 = "sev2" } }
"""


def test_every_matching_rule_makes_an_event_in_file_order():
    source = parse_source(BASE, "desk")
    got = source.map({"ticket": 7, "at": "2026-11-29T19:00:00Z", "kind": "reply", "public": True, "level": 2, "agent": "bo", "priority": "P2"})
    assert [(e.type, e.rule, e.ticket_id) for e in got.events] == [("respond", 0, "D-7"), ("change_severity", 1, "D-7")]
    assert got.events[1].fields == {"by": "desk", "severity": "sev2", "occurred_at": "2026-11-29T19:00:00Z"}
    # Lists are any-of; values compare in their text form (true is "true", 2 is "2").
    assert [e.type for e in source.map({"ticket": 7, "kind": "note", "level": 2, "priority": "P1"}).events] == ["change_severity"]
    assert [e.type for e in source.map({"ticket": 7, "kind": "reply", "public": "true", "level": "3", "agent": "bo"}).events] == ["respond"]
    assert source.map({"ticket": 7, "kind": "reply", "public": False, "level": 3, "agent": "bo"}).ignored == "no rule matches ($.kind = reply)"
    # Case-sensitive.
    assert source.map({"ticket": 7, "kind": "Reply", "public": True, "agent": "bo"}).ignored == "no rule matches ($.kind = Reply)"
    assert source.map([]).ignored == "no rule matches ($.kind = missing)"


def test_missing_values_defaults_and_map_misses():
    source = parse_source(BASE, "desk")
    # An optional field with nothing there is left out (no occurred_at); a required one is an error.
    assert source.map({"ticket": 7, "kind": "reply", "public": True, "agent": "bo"}).events[0].fields == {"by": "bo"}
    with pytest.raises(PayloadError, match=r"^\$\.agent: missing \(rules\[0\]\.fields\.by: respond needs by\)$"):
        source.map({"ticket": 7, "kind": "reply", "public": True, "agent": ""})
    with pytest.raises(PayloadError, match=r"^\$\.priority: 'P3' is not in the map \(P1, P2\) \(rules\[1\]\.fields\.severity\)$"):
        source.map({"ticket": 7, "kind": "note", "level": 2, "priority": "P3"})
    with pytest.raises(PayloadError, match=r"^\$\.ticket: missing \(ticket\.id\)$"):
        source.map({"kind": "note", "level": 2, "priority": "P1"})
    defaulted = parse_source(BASE.replace('map = { P1 = "sev1", P2 = "sev2" }', 'map = { P1 = "sev1" }, default = "sev3"'), "desk")
    assert defaulted.map({"ticket": 7, "kind": "note", "level": 2, "priority": "P3"}).events[0].fields["severity"] == "sev3"
    assert defaulted.map({"ticket": 7, "kind": "note", "level": 2}).events[0].fields["severity"] == "sev3"
    # A path that matches several values, or an object where text is needed.
    with pytest.raises(PayloadError, match=r"^\$\.agent\[\*\]: matches 2 values, a field takes one"):
        parse_source(BASE.replace('path = "$.agent"', 'path = "$.agent[*]"'), "desk").map(
            {"ticket": 7, "kind": "reply", "public": True, "agent": ["a", "b"]})
    with pytest.raises(PayloadError, match=r"^\$\.ticket: is a JSON object, not a value \(ticket\.id\)$"):
        source.map({"ticket": {"id": 7}, "kind": "note", "level": 2, "priority": "P1"})


def bad(text: str, name: str = "desk") -> list[str]:
    with pytest.raises(MappingError) as caught:
        parse_source(text, name)
    assert str(caught.value).startswith(caught.value.problems[0])
    return caught.value.problems


MAPPING_ERRORS = [
    ("not TOML", "[verify\nscheme = 1", "desk.toml: not TOML: "),
    ("unknown top-level key", BASE + "\n[extra]\nx = 1\n", "desk.toml: extra: unknown key (allowed: verify, ticket, rules)"),
    ("unknown key of a field", BASE.replace('by = { path = "$.agent" }', 'by = { paht = "$.agent" }'),
     "desk.toml: rules[0].fields.by.paht: unknown key (allowed: path, value, map, prefix, epoch, default)"),
    ("unknown key of a rule", BASE.replace('event = "respond"', 'event = "respond"\nevnet = "x"'),
     "desk.toml: rules[0].evnet: unknown key (allowed: when, event, fields)"),
    ("unknown scheme", BASE.replace('"shared-secret"', '"hmac"'),
     "desk.toml: verify.scheme: 'hmac': Input should be 'standard-webhooks', 'zendesk', 'jira' or 'shared-secret'"),
    ("unknown event", BASE.replace('event = "respond"', 'event = "reply"'), "desk.toml: rules[0].event: 'reply' is not an event (open, acknowledge, respond, "),
    ("unknown field", BASE.replace('by = { path = "$.agent" }', 'by = { path = "$.agent" }\nauthor = { path = "$.agent" }'),
     "desk.toml: rules[0].fields.author: not a field of respond (it has occurred_at, by, message_id)"),
    ("bad JSONPath", BASE.replace('path = "$.agent"', 'path = "$.agent[?(@.x ==)]"'), "desk.toml: rules[0].fields.by.path: not a JSONPath: Parse error"),
    ("JSONPath not from the root", BASE.replace('path = "$.agent"', 'path = "agent"'), "desk.toml: rules[0].fields.by.path: a JSONPath starts at the root: $.…"),
    ("bad JSONPath in when", BASE.replace('"$.kind" = "reply"', '"$..[" = "reply"'), "desk.toml: rules[0].when['$..[']: not a JSONPath"),
    ("map target not a severity", BASE.replace('P2 = "sev2"', 'P2 = "sev9"'),
     "desk.toml: rules[1].fields.severity.map.P2: 'sev9' is not a valid severity (Input should be 'sev1', 'sev2', 'sev3' or 'sev4')"),
    ("default not a severity", BASE.replace('P2 = "sev2" }', 'P2 = "sev2" }, default = "high"'),
     "desk.toml: rules[1].fields.severity.default: 'high' is not a valid severity"),
    ("via mapped", BASE.replace('by = { value = "desk" }', 'by = { value = "desk" }\nvia = { value = "hook:desk" }'),
     "desk.toml: rules[1].fields.via: may not be mapped: the server sets it (hook:<source>)"),
    ("type mapped", BASE.replace('by = { value = "desk" }', 'by = { value = "desk" }\ntype = { value = "respond" }'),
     "desk.toml: rules[1].fields.type: may not be mapped: it is the rule's `event`"),
    ("event_id mapped", BASE.replace('by = { value = "desk" }', 'by = { value = "desk" }\nevent_id = { path = "$.id" }'),
     "desk.toml: rules[1].fields.event_id: may not be mapped: the server makes it from the delivery id"),
    ("missing [ticket]", BASE.replace('[ticket]\nid = { path = "$.ticket", prefix = "D-" }\noccurred_at = { path = "$.at" }', ""),
     "desk.toml: ticket: missing"),
    ("no rules", BASE.split("[[rules]]")[0], "desk.toml: rules: missing"),
    ("required field unmapped", BASE.replace('by = { path = "$.agent" }', 'message_id = { path = "$.id" }'), "desk.toml: rules[0].fields: respond needs by"),
    ("path and value", BASE.replace('by = { value = "desk" }', 'by = { value = "desk", path = "$.who" }'),
     "desk.toml: rules[1].fields.by: give either path (a JSONPath) or value (a constant)"),
    ("map and prefix", BASE.replace('map = { P1 = "sev1", P2 = "sev2" }', 'map = { P1 = "sev1" }, prefix = "s"'),
     "desk.toml: rules[1].fields.severity: one of map, prefix or epoch, not map and prefix"),
    ("prefix that makes no ticket id", BASE.replace('prefix = "D-"', 'prefix = "D "'),
     "desk.toml: ticket.id.prefix: 'D ' and a value is never a valid ticket id (String should match pattern"),
    ("constant ticket id", BASE.replace('id = { path = "$.ticket", prefix = "D-" }', 'id = { value = "T-1" }'),
     "desk.toml: ticket.id: needs a path (a constant id would put every delivery on one ticket)"),
    ("epoch on text", BASE.replace('by = { path = "$.agent" }', 'by = { path = "$.agent", epoch = "ms" }'),
     "desk.toml: rules[0].fields.by.epoch: by is not an instant (epoch is for occurred_at, opened_at, due)"),
    ("set_status to solved", BASE + '\n[[rules]]\nevent = "set_status"\n[rules.fields]\nby = { value = "d" }\nstatus = { value = "solved" }\n',
     "desk.toml: rules[2].fields.status: 'solved' is not a status set_status takes (pending, waiting_on_customer, waiting_on_third_party)"),
    ("a header for a signing scheme", BASE.replace('"shared-secret"', '"jira"\nheader = "X-Token"'),
     "desk.toml: verify.header: only for scheme shared-secret (jira has its own headers)"),
    ("a secret in the file", BASE.replace('["DESK_SECRET"]', '["s3cr3t!value"]'),
     "desk.toml: verify.secrets_env[0]: 's3cr3t!value' is not an environment variable's name (the secret itself never goes in the file)"),
    ("name key", "name = 'other'\n" + BASE, "desk.toml: name: not a key: the source's name is the file's (desk)"),
    ("when with a float", BASE.replace('"$.level" = 2', '"$.level" = 2.5'),
     "desk.toml: rules[1].when['$.level']: compare with text, true/false or a whole number (or a list of them)"),
    ("a constant of the wrong type", BASE.replace('by = { value = "desk" }', 'by = { value = 7 }'),
     "desk.toml: rules[1].fields.by.value: 7: a constant is text (or a list of text), as JSON would carry it"),
    ("an open without a title", BASE + '\n[[rules]]\nevent = "open"\n[rules.fields]\ncustomer = { value = "ACME" }\nseverity = { value = "sev2" }\n',
     "desk.toml: rules[2].fields: open needs title"),
    ("an open's channel constant", BASE + '\n[[rules]]\nevent = "open"\n[rules.fields]\ncustomer = { value = "ACME" }\ntitle = { path = "$.t" }\n'
     'severity = { value = "sev2" }\nchannel = { value = "Web Portal" }\n',
     "desk.toml: rules[2].fields.channel.value: 'Web Portal' is not a valid channel (String should match pattern"),
]


@pytest.mark.parametrize("text, expected", [(t, e) for _, t, e in MAPPING_ERRORS], ids=[c for c, _, _ in MAPPING_ERRORS])
def test_mapping_errors_name_the_field(text, expected):
    problems = bad(text)
    assert any(p.startswith(expected) for p in problems), problems


def test_bad_source_names_and_every_problem_listed(tmp_path):
    with pytest.raises(MappingError, match=r"^Zendesk\.toml: 'Zendesk' is not a source name"):
        parse_source(BASE, "Zendesk")
    assert parse_source(BASE, "my_desk").map({"ticket": 1, "kind": "reply", "public": True, "agent": "bo"}).events  # via hook:my_desk
    path = tmp_path / "my desk.toml"
    path.write_text(BASE)
    with pytest.raises(MappingError, match=r"^my desk\.toml: 'my desk' is not a source name"):
        load_source(path)
    problems = bad(BASE.replace('P2 = "sev2"', 'P2 = "sev9"').replace('event = "respond"', 'event = "reply"'))
    assert len(problems) == 2
    with pytest.raises(MappingError) as caught:
        parse_source(BASE.replace('P2 = "sev2"', 'P2 = "sev9"').replace('event = "respond"', 'event = "reply"'), "desk")
    assert str(caught.value).endswith("(and 1 more problem)")


def test_load_sources_reads_every_toml_and_lists_every_problem(tmp_path):
    (tmp_path / "desk.toml").write_text(BASE)
    (tmp_path / "notes.txt").write_text("not a mapping")
    assert list(load_sources(tmp_path)) == ["desk"]
    (tmp_path / "other.toml").write_text(BASE.replace('event = "respond"', 'event = "reply"'))
    with pytest.raises(MappingError) as caught:
        load_sources(tmp_path)
    assert caught.value.problems[0].startswith("other.toml: rules[0].event: 'reply' is not an event")


def test_secrets_of():
    source = parse_source(BASE.replace('["DESK_SECRET"]', '["DESK_SECRET", "DESK_SECRET_PREVIOUS"]'), "desk")
    assert secrets_of(source, {"DESK_SECRET": "new", "DESK_SECRET_PREVIOUS": "old"}) == ["new", "old"]
    assert secrets_of(source, {"DESK_SECRET": "", "DESK_SECRET_PREVIOUS": "old"}) == ["old"]
    with pytest.raises(MappingError, match=r"^desk: no secret: set DESK_SECRET or DESK_SECRET_PREVIOUS \(verify.secrets_env\)$"):
        secrets_of(source, {})
    sw = parse_source(BASE.replace('"shared-secret"', '"standard-webhooks"'), "desk")
    assert secrets_of(sw, {"DESK_SECRET": SW_NEW}) == [SW_NEW]
    with pytest.raises(MappingError) as caught:
        secrets_of(sw, {"DESK_SECRET": "plain-text-secret"})
    assert str(caught.value) == "desk: DESK_SECRET: not a Standard Webhooks secret (whsec_ followed by base64)"
    assert "plain-text-secret" not in str(caught.value)


# -- escalator hooks check ----------------------------------------------------------------------

def hooks(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="escalator")
    add_hooks_commands(parser.add_subparsers(dest="command", required=True), argparse.ArgumentParser)
    return run_hooks_command(parser.parse_args(["hooks", "check", *argv]))


def test_check_a_shipped_mapping(capsys, monkeypatch):
    monkeypatch.delenv("ZENDESK_WEBHOOK_SECRET", raising=False)
    monkeypatch.delenv("ZENDESK_WEBHOOK_SECRET_PREVIOUS", raising=False)
    file = str(SHIPPED / "zendesk.toml")
    assert hooks(file) == 0
    out, err = capsys.readouterr()
    assert out == f"{file}: ok (scheme zendesk, 8 rules; secrets from ZENDESK_WEBHOOK_SECRET, ZENDESK_WEBHOOK_SECRET_PREVIOUS)\n"
    assert err == ("note: in this environment: zendesk: no secret: set ZENDESK_WEBHOOK_SECRET or ZENDESK_WEBHOOK_SECRET_PREVIOUS "
                   "(verify.secrets_env)\n")
    monkeypatch.setenv("ZENDESK_WEBHOOK_SECRET", "x")
    assert hooks(file) == 0
    assert capsys.readouterr().err == ""


def test_check_with_a_payload(capsys):
    file = str(SHIPPED / "jira-service-management.toml")
    assert hooks(file, "--payload", str(PAYLOADS / "jira" / "issue_updated_resolved_and_priority.json")) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[1:] == [
        'SUP-42  change_severity  {"by": "Alice Agent", "severity": "sev3", "reason": "Jira priority changed", "occurred_at": "2026-11-29T11:45:20.987000Z"}',
        'SUP-42  resolve  {"by": "Alice Agent", "resolution": "Done", "occurred_at": "2026-11-29T11:45:20.987000Z"}',
    ]
    ignored = str(PAYLOADS / "jira" / "issue_updated_summary.json")
    assert hooks(file, "--payload", ignored) == 0
    assert capsys.readouterr().out.splitlines()[1] == f"{ignored}: ignored: no rule matches ($.webhookEvent = jira:issue_updated)"
    broken = str(PAYLOADS / "jira" / "bad_issue_created_blank_summary.json")
    assert hooks(file, "--payload", broken) == 1
    assert capsys.readouterr().err.splitlines()[-1] == (
        f"error: {broken}: $.issue.fields.summary: Value error, must say something (it is blank) (rules[0].fields.title)")


def test_check_json(capsys, monkeypatch):
    monkeypatch.setenv("ZENDESK_WEBHOOK_SECRET", "x")
    file = str(SHIPPED / "zendesk.toml")
    assert hooks(file, "--json", "--payload", str(PAYLOADS / "zendesk" / "ticket_created.json")) == 0
    doc = json.loads(capsys.readouterr().out)
    assert (doc["ok"], doc["source"], doc["scheme"], doc["rules"], doc["problems"], doc["notes"]) == (True, "zendesk", "zendesk", 8, [], [])
    assert doc["payload"]["events"] == [{"ticket_id": "ZD-5158", "type": "open", "rule": 0, "fields": ZENDESK_EXPECTED["ticket_created"][0][2]}]


def test_check_a_bad_file(capsys, tmp_path):
    path = tmp_path / "desk.toml"
    path.write_text(BASE.replace('P2 = "sev2"', 'P2 = "sev9"').replace('event = "respond"', 'event = "reply"'))
    assert hooks(str(path)) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert [line.split(":")[:3] for line in err.splitlines()] == [["error", " desk.toml", " rules[0].event"],
                                                                   ["error", " desk.toml", " rules[1].fields.severity.map.P2"]]
    assert hooks(str(path), "--json") == 1
    assert len(json.loads(capsys.readouterr().out)["problems"]) == 2


def test_check_unreadable_input(capsys, tmp_path):
    assert hooks(str(tmp_path / "missing.toml")) == 2
    assert capsys.readouterr().err == f"escalator: error: {tmp_path / 'missing.toml'}: no such file\n"
    not_json = tmp_path / "body.json"
    not_json.write_text("{nope")
    assert hooks(str(SHIPPED / "zendesk.toml"), "--payload", str(not_json)) == 2
    assert capsys.readouterr().err.startswith(f"escalator: error: --payload: {not_json} is not JSON: ")
