"""The notify activity against real local receivers: webhook, Slack, PagerDuty, SMTP."""

from __future__ import annotations

import email
import json
import time
from datetime import UTC, datetime
from email import policy as email_policy
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from activities.channels.email import SmtpSettings
from activities.notify import Notifier, NotifierSettings
from sla.messages import Notification
from tests.receivers import HttpReceiver, free_port

SECRET = "whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"  # a Standard Webhooks test secret
NOTE = Notification(
    idempotency_key="T-9/first_response/1/breach", ticket_id="T-9", customer="ACME", severity="sev1", kind="breach",
    clock="first_response", due=datetime(2026, 11, 23, 11, 0, tzinfo=UTC), summary="first response due: Sev-1, 2h",
    roles=["support_l1"],
)


def contacts(tmp_path: Path, *entries: str) -> Path:
    path = tmp_path / "contacts.toml"
    path.write_text("\n".join(f"[[contacts]]\n{e}\nreviewed_on = 2026-11-01\n" for e in entries))
    return path


def notifier(store, tmp_path, *entries: str, environ=None, allow_private=True, **settings) -> Notifier:
    return Notifier(store, NotifierSettings(contacts_path=contacts(tmp_path, *entries), allow_private_urls=allow_private, **settings),
                    environ=environ or {})


@pytest.fixture
def receiver():
    r = HttpReceiver()
    yield r
    r.close()


async def test_webhook_is_signed_and_a_tampered_body_fails(store, tmp_path, receiver) -> None:
    n = notifier(store, tmp_path, f'role = "support_l1"\nchannel = "webhook"\naddress = "{receiver.url()}"\nsecret_env = "HOOK_SECRET"',
                 environ={"HOOK_SECRET": SECRET})
    result = await n.notify(NOTE)
    assert (result.sent, result.failed) == (1, 0)
    (request,) = receiver.requests
    assert request.headers["webhook-id"] == NOTE.idempotency_key
    body = Webhook(SECRET).verify(request.body, request.headers)
    assert body["schema"] == "escalator.notification/v1" and body["type"] == "obligation.breach"
    assert body["ticket"] == {"id": "T-9", "customer": "ACME", "severity": "sev1", "url": "http://localhost:8233/namespaces/default/workflows/T-9"}
    with pytest.raises(WebhookVerificationError):
        Webhook(SECRET).verify(request.body.replace(b"sev1", b"sev4"), request.headers)
    assert SECRET not in json.dumps([d["detail"] for d in store.timeline("T-9")[1]])


async def test_a_notifier_retried_three_times_delivers_once(store, tmp_path, receiver) -> None:
    n = notifier(store, tmp_path, f'role = "support_l1"\nchannel = "webhook"\naddress = "{receiver.url()}"\nsecret_env = "S"', environ={"S": SECRET})
    outcomes = [await n.notify(NOTE) for _ in range(3)]
    assert [(o.sent, o.skipped) for o in outcomes] == [(1, 0), (0, 1), (0, 1)]
    assert len(receiver.requests) == 1 and store.count("deliveries") == 1


async def test_a_503_is_retried_and_the_same_message_goes_again(store, tmp_path) -> None:
    flaky = HttpReceiver(script=[(503, b"busy", {})])
    try:
        n = notifier(store, tmp_path, f'role = "support_l1"\nchannel = "webhook"\naddress = "{flaky.url()}"\nsecret_env = "S"', environ={"S": SECRET})
        (outcome,) = (await n.notify(NOTE)).outcomes  # one attempt: the workflow decides when to try again
        assert (outcome.status, outcome.retry) == ("pending", True) and "HTTP 503" in outcome.detail
        assert not store.delivered(f"{NOTE.idempotency_key}|support_l1|webhook|{flaky.url()}")
        assert (await n.notify(NOTE)).sent == 1
        assert [r.headers["webhook-id"] for r in flaky.requests] == [NOTE.idempotency_key] * 2  # the receiver can dedupe
    finally:
        flaky.close()


async def test_a_400_is_not_retried_and_goes_to_the_fallback(store, tmp_path) -> None:
    refusing, fallback = HttpReceiver(default=(400, b"bad", {})), HttpReceiver()
    try:
        n = notifier(store, tmp_path,
                     f'role = "support_l1"\nchannel = "webhook"\naddress = "{refusing.url()}"\nsecret_env = "S"',
                     f'role = "support_l1"\nchannel = "webhook"\naddress = "{fallback.url()}"\nsecret_env = "S"\nfallback = true',
                     environ={"S": SECRET})
        result = await n.notify(NOTE)
        assert (result.sent, result.failed) == (1, 1)
        assert [(o.status, o.retry) for o in result.outcomes] == [("delivered_by_fallback", False)]
        assert len(refusing.requests) == 1 and len(fallback.requests) == 1
        _, rows = store.timeline("T-9")
        assert sorted(r["kind"] for r in rows) == ["delivery_failed", "delivery_sent"]
        assert "HTTP 400" in next(r for r in rows if r["kind"] == "delivery_failed")["detail"]["error"]
    finally:
        refusing.close()
        fallback.close()


@pytest.mark.parametrize(
    ("address", "allow_private", "reason"),
    [
        ("ftp://127.0.0.1/x", True, "scheme 'ftp' refused"),
        ("http://example.invalid/x", False, "scheme 'http' refused: use https"),
        ("https://127.0.0.1:9/x", False, "resolves to 127.0.0.1, a private/loopback/link-local address: refused"),
        ("https://169.254.169.254/latest/meta-data", False, "a private/loopback/link-local address"),
    ],
)
async def test_webhook_urls_are_checked_against_request_forgery(store, tmp_path, address, allow_private, reason) -> None:
    n = notifier(store, tmp_path, f'role = "support_l1"\nchannel = "webhook"\naddress = "{address}"\nsecret_env = "S"',
                 environ={"S": SECRET}, allow_private=allow_private)
    assert (await n.notify(NOTE)).failed == 1
    (row,) = store.timeline("T-9")[1]
    assert reason in row["detail"]["error"]


async def test_redirects_are_not_followed(store, tmp_path) -> None:
    redirecting, target = HttpReceiver(default=(302, b"", {})), HttpReceiver()
    redirecting.default = (302, b"", {"location": target.url()})
    try:
        n = notifier(store, tmp_path, f'role = "support_l1"\nchannel = "webhook"\naddress = "{redirecting.url()}"\nsecret_env = "S"', environ={"S": SECRET})
        assert (await n.notify(NOTE)).failed == 1
        assert target.requests == []
    finally:
        redirecting.close()
        target.close()


async def test_slack_gets_block_kit_with_ticket_text_escaped(store, tmp_path, receiver) -> None:
    hook = receiver.url("/services/T0/B0/secret")
    n = notifier(store, tmp_path, 'role = "support_l1"\nchannel = "slack"\naddress = "#support"\nsecret_env = "SLACK_URL"', environ={"SLACK_URL": hook})
    note = NOTE.model_copy(update={"summary": "due <!channel> <@U123> <https://evil.example|click> & more"})
    started = time.time()
    assert (await n.notify(note)).sent == 1
    (request,) = receiver.requests
    doc = json.loads(request.body)
    text = json.dumps(doc)
    assert "<!channel>" not in text and "<@U123>" not in text and "<https://evil" not in text
    assert "&lt;!channel&gt;" in doc["text"] and "&amp; more" in doc["text"]
    assert doc["blocks"][0]["type"] == "header" and doc["blocks"][-1]["elements"][0]["url"].endswith("/workflows/T-9")
    (row,) = store.timeline("T-9")[1]
    assert row["detail"]["recipient"] == "#support" and "secret" not in json.dumps(row["detail"])
    # The window Slack cannot close: accepted by the receiver, not yet in the delivery log.
    window = row["at"].timestamp() - request.at
    print(f"\nslack: accepted -> logged window {window * 1000:.1f} ms (request sent {request.at - started:.3f}s after start)")
    assert window >= 0


async def test_pagerduty_events_v2_trigger_with_a_dedup_key(store, tmp_path, receiver) -> None:
    receiver.default = (202, b'{"status":"success","message":"Event processed","dedup_key":"x"}', {"content-type": "application/json"})
    n = notifier(store, tmp_path, 'role = "support_l1"\nchannel = "pagerduty"\naddress = "engineering"\nsecret_env = "PD_KEY"',
                 environ={"PD_KEY": "R0UT1NGKEY"}, pagerduty_events_url=receiver.url("/v2/enqueue"))
    assert (await n.notify(NOTE)).sent == 1
    event = json.loads(receiver.requests[0].body)
    assert receiver.requests[0].path == "/v2/enqueue"
    assert event["routing_key"] == "R0UT1NGKEY" and event["event_action"] == "trigger"
    # One incident per ticket and step (here: clock and cycle), so repeats re-alert it.
    assert event["dedup_key"] == "T-9/first_response/1" and event["payload"]["severity"] == "critical"
    assert "R0UT1NGKEY" not in json.dumps(store.timeline("T-9")[1], default=str)


async def test_pagerduty_acknowledge_and_resolve_use_the_same_dedup_key(receiver) -> None:
    from activities.channels import pagerduty
    from activities.notify import outbound

    receiver.default = (202, b'{"status":"success"}', {})
    message = outbound(NOTE, NotifierSettings())
    for action in ("trigger", "acknowledge", "resolve"):
        await pagerduty.send("engineering", message, "KEY", events_url=receiver.url(), allow_private=True, action=action)
    events = [json.loads(r.body) for r in receiver.requests]
    assert [e["event_action"] for e in events] == ["trigger", "acknowledge", "resolve"]
    assert {e["dedup_key"] for e in events} == {"T-9/first_response/1"}  # the incident: ticket, clock and cycle
    assert "payload" not in events[1] and "payload" not in events[2]


class Inbox:
    def __init__(self) -> None:
        self.messages: list[tuple[float, str, list[str], bytes]] = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's name)
        self.messages.append((time.time(), envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
        return "250 Message accepted for delivery"


async def test_email_over_smtp_has_text_and_html(store, tmp_path) -> None:
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        n = notifier(store, tmp_path, 'role = "support_l1"\nchannel = "email"\naddress = "l1@support.example.com"',
                     smtp=SmtpSettings(host="127.0.0.1", port=controller.port, sender="escalator@example.com"))
        assert (await n.notify(NOTE)).sent == 1
    finally:
        controller.stop()
    (received_at, sender, recipients, content) = inbox.messages[0]
    mail = email.message_from_bytes(content, policy=email_policy.default)
    assert sender == "escalator@example.com" and recipients == ["l1@support.example.com"]
    assert mail["Subject"] == "[SEV1] T-9 ACME: first response due: Sev-1, 2h"
    assert [p.get_content_type() for p in mail.iter_parts()] == ["text/plain", "text/html"]
    (row,) = store.timeline("T-9")[1]
    window = row["at"].timestamp() - received_at
    print(f"\nsmtp: accepted -> logged window {window * 1000:.1f} ms")
    assert window >= 0


async def test_email_headers_refuse_line_breaks(store, tmp_path) -> None:
    from activities.channels import email as email_channel
    from activities.channels.delivery import PermanentDeliveryError

    from activities.notify import outbound

    message = outbound(NOTE, NotifierSettings())
    with pytest.raises(PermanentDeliveryError, match="line break"):
        email_channel.render("victim@example.com\r\nBcc: everyone@example.com", message, "escalator@example.com")


async def test_without_a_contacts_file_every_role_goes_to_the_console(store) -> None:
    result = await Notifier(store, NotifierSettings()).notify(NOTE.model_copy(update={"roles": ["support_l1", "support_manager"]}))
    assert (result.sent, result.failed) == (2, 0)
