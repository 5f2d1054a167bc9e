"""Scheduled reviews on a real dev server: `escalator schedule create|list|trigger|delete`, a worker
running the ScheduledReview workflow, and a local SMTP receiver that gets the mail with its page."""

from __future__ import annotations

import asyncio
import email
import json
import re
import sys
from datetime import UTC, datetime, timedelta
from email import policy as email_policy
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from temporalio.testing import WorkflowEnvironment

from activities.channels.email import SmtpSettings
from activities.notify import NotifierSettings
from reports.reviews import period_of
from sla.messages import EventBatch, TicketEvent
from sla.ticket import TicketOpened
from tests.receivers import free_port
from worker.main import build_worker

pytestmark = pytest.mark.devserver


class Inbox:
    def __init__(self) -> None:
        self.messages: list[tuple[list[str], bytes]] = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's name)
        self.messages.append((list(envelope.rcpt_tos), envelope.content))
        return "250 Message accepted for delivery"


async def escalator(env: WorkflowEnvironment, *args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "starter", *args, "--address", env.client.service_client.config.target_host,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await proc.communicate()
    return proc.returncode, out.decode(), err.decode()


def _last_week(store) -> tuple[str, datetime]:
    """Two Sev-1 tickets and a Sev-2 opened in the last full week, one Sev-1 the week before; one
    Sev-1 with its review overdue. Returns the week's name and its Monday."""
    period, monday, _ = period_of("weekly-review", datetime.now(UTC))
    rows = [("W1", "sev1", monday + timedelta(days=1)), ("W2", "sev1", monday + timedelta(days=2)), ("W3", "sev2", monday + timedelta(days=3)),
            ("W0", "sev1", monday - timedelta(days=3))]
    batches = []
    for tid, severity, opened in rows:
        events = [(opened, "opened", {}), (opened + timedelta(minutes=20), "responded", {})]
        if tid == "W1":  # breached its first response, solved, its review is overdue
            events += [(opened + timedelta(hours=2), "breach", {"clock": "first_response", "obligation": "W1/first_response/1/breach"}),
                       (opened + timedelta(hours=3), "resolved", {}),
                       (opened + timedelta(hours=3), "post_incident_due", {"item": "review", "due": (opened + timedelta(hours=75)).isoformat()})]
        ticket = TicketOpened(ticket_id=tid, customer="ACME", title=tid, severity=severity, opened_at=opened)
        batches.append(EventBatch(ticket=ticket, status="open", severity=severity, events=[
            TicketEvent(event_id=f"{tid}/{i}", seq=i, at=at, recorded_at=at, kind=k, detail=d) for i, (at, k, d) in enumerate(events, 1)]))
    store.record_batches(batches)
    return period, monday


async def test_a_triggered_weekly_review_is_mailed_once_per_period(store, dev_env: WorkflowEnvironment, tmp_path: Path, unique: str) -> None:
    period, _ = _last_week(store)
    contacts = tmp_path / "contacts.toml"
    contacts.write_text('[[contacts]]\nrole = "support_manager"\nchannel = "email"\naddress = "manager@example.com"\nreviewed_on = 2026-11-01\n'
                        '[[contacts]]\nrole = "support_manager"\nchannel = "pagerduty"\naddress = "svc"\nreviewed_on = 2026-11-01\n')
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    queue, schedule_id = f"tq-{unique}", f"weekly-{unique}"
    settings = NotifierSettings(contacts_path=contacts, smtp=SmtpSettings(host="127.0.0.1", port=controller.port, sender="escalator@example.com"))
    try:
        async with build_worker(dev_env.client, queue, store=store, notifier=settings):
            code, out, err = await escalator(dev_env, "schedule", "create", "weekly-review", "--to", "support_manager,nobody_here",
                                             "--id", schedule_id, "--task-queue", queue, "--tz", "Europe/Berlin")
            assert code == 0, err
            assert f"created schedule {schedule_id}: weekly-review to support_manager, nobody_here at '0 8 * * MON' (Europe/Berlin)" in out
            code, out, err = await escalator(dev_env, "schedule", "list", "--json")
            mine = [s for s in json.loads(out)["schedules"] if s["id"] == schedule_id]
            assert mine and mine[0]["kind"] == "weekly-review" and mine[0]["next"] and mine[0]["last"] is None

            code, out, err = await escalator(dev_env, "schedule", "trigger", schedule_id)
            assert code == 0, err
            assert f"for period {period}: sent 1, already sent 0, failed 0; no e-mail, Slack or console contact for nobody_here" in out
            code, out, err = await escalator(dev_env, "schedule", "trigger", schedule_id, "--json")
            assert code == 0, err
            doc = json.loads(out)
            assert (doc["sent"], doc["already_sent"]) == (0, 1)  # the same period: not sent twice
            assert doc["counts"] == {"sev1_tickets": 2, "sev1_breaches": 1, "sev2_tickets": 1, "sev2_breaches": 0, "open_post_incident": 1}
    finally:
        controller.stop()
        await escalator(dev_env, "schedule", "delete", schedule_id)
    assert len(inbox.messages) == 1
    recipients, content = inbox.messages[0]
    mail = email.message_from_bytes(content, policy=email_policy.default)
    assert recipients == ["manager@example.com"]
    _, monday, sunday_after = period_of("weekly-review", datetime.now(UTC), "Europe/Berlin")
    assert mail["Subject"].strip() == (f"Weekly review {period} ({monday:%d %b}-{sunday_after - timedelta(days=1):%d %b}): "
                                       "2 Sev-1, 1 Sev-2, 1 open post-incident item(s)")
    body = mail.get_body(("plain",)).get_content()
    # Against the week before (one Sev-1): +1 Sev-1, +1 clock breached (W1's first response).
    assert "sev1: 2 tickets (+1 on the week before), 1 clock(s) breached (+1)" in body
    assert re.fullmatch(r"<review\.[0-9a-f]{32}@escalator>", mail["Message-ID"]) and mail["Date"]
    [attachment] = list(mail.iter_attachments())
    assert attachment.get_filename() == f"weekly-review-{period}.html"
    page = attachment.get_content()
    assert f"<h1>Weekly review {period}: Mon {monday:%d %b} to Sun" in page and "W1" in page and "overdue" in page


async def test_schedule_errors_are_one_line(dev_env: WorkflowEnvironment, unique: str, tmp_path: Path) -> None:
    code, out, err = await escalator(dev_env, "schedule", "create", "weekly-review", "--to", "Support Manager")
    assert code == 2 and "--to: 'Support Manager' is not a role name" in err and err.count("\n") == 1
    contacts = tmp_path / "contacts.toml"
    contacts.write_text('[[contacts]]\nrole = "support_manager"\nchannel = "email"\naddress = "m@example.com"\nreviewed_on = 2026-11-01\n'
                        '[[contacts]]\nrole = "on_call"\nchannel = "pagerduty"\naddress = "svc"\nreviewed_on = 2026-11-01\n')
    code, _, err = await escalator(dev_env, "schedule", "create", "weekly-review", "--to", "on_call,support_manager", "--contacts", str(contacts))
    assert code == 2 and f"--to: on_call has no e-mail, Slack or console contact in {contacts} (roles that have one: support_manager)" in err
    code, _, err = await escalator(dev_env, "schedule", "create", "weekly-review", "--to", "x", "--id", "bad id/slash")
    assert code == 2 and "--id: 'bad id/slash' is not an id" in err
    code, _, err = await escalator(dev_env, "schedule", "create", "monthly-report", "--to", "x", "--cron", "0 8 1 *")
    assert code == 2 and "--cron: '0 8 1 *' has 4 field(s); a cron has 5" in err
    code, _, err = await escalator(dev_env, "schedule", "create", "monthly-report", "--to", "x", "--tz", "Mars/Olympus")
    assert code == 2 and "--tz: 'Mars/Olympus' is not an IANA time zone" in err
    code, _, err = await escalator(dev_env, "schedule", "create", "monthly-report", "--to", "x", "--cron", "0 8 1 * NOPE", "--id", f"bad-{unique}")
    assert code == 1 and "the server refused the schedule" in err and err.count("\n") == 1
    code, _, err = await escalator(dev_env, "schedule", "trigger", f"none-{unique}")
    assert code == 1 and f"no schedule 'none-{unique}'" in err
    code, _, err = await escalator(dev_env, "schedule", "delete", f"none-{unique}")
    assert code == 1 and f"no schedule 'none-{unique}'" in err
    code, _, _ = await escalator(dev_env, "schedule", "create", "open-post-incident", "--to", "x", "--id", f"twice-{unique}")
    assert code == 0
    code, _, err = await escalator(dev_env, "schedule", "create", "open-post-incident", "--to", "x", "--id", f"twice-{unique}")
    assert code == 1 and f"a schedule 'twice-{unique}' exists: delete it first" in err
    assert (await escalator(dev_env, "schedule", "delete", f"twice-{unique}"))[0] == 0


def test_the_monthly_report_and_the_open_items_as_reviews(store, default_policy) -> None:
    from reports.reviews import build_review

    now = datetime(2026, 11, 2, 7, 0, tzinfo=UTC)  # Monday 08:00 in Berlin
    assert period_of("monthly-report", now)[0] == "2026-10" and period_of("weekly-review", now)[0] == "2026-W44"
    # The period is the schedule's zone's: 08:00 on 1 December in Tokyo is still 30 November in UTC.
    tokyo = datetime(2026, 11, 30, 23, 0, tzinfo=UTC)
    name, start, end = period_of("monthly-report", tokyo, "Asia/Tokyo")
    assert (name, start.isoformat(), end.isoformat()) == ("2026-11", "2026-11-01T00:00:00+09:00", "2026-12-01T00:00:00+09:00")
    assert period_of("weekly-review", datetime(2026, 11, 29, 23, 0, tzinfo=UTC), "Asia/Tokyo")[0] == "2026-W48"  # Monday 08:00 Tokyo
    assert period_of("weekly-review", datetime(2026, 11, 29, 23, 0, tzinfo=UTC))[0] == "2026-W47"  # still Sunday in UTC
    opened = datetime(2026, 10, 20, 8, 0, tzinfo=UTC)
    events = [(opened, "opened", {}), (opened + timedelta(minutes=30), "responded", {}), (opened + timedelta(hours=5), "resolved", {}),
              (opened + timedelta(hours=5), "post_incident_due", {"item": "review", "due": (now + timedelta(days=1)).isoformat()}),
              (opened + timedelta(hours=5), "post_incident_due", {"item": "rca", "due": (now + timedelta(days=5)).isoformat()}),
              (opened + timedelta(hours=6), "action_added", {"item": "action-1", "title": "Alert on card declines", "owner": "bob",
                                                            "due": (now - timedelta(days=1)).isoformat()}),
              (opened + timedelta(hours=6), "action_added", {"item": "action-2", "title": "Runbook", "owner": "bob",
                                                            "due": (now - timedelta(days=2)).isoformat()}),
              (opened + timedelta(hours=7), "action_done", {"item": "action-2"})]
    ticket = TicketOpened(ticket_id="M1", customer="ACME", title="M1", severity="sev1", opened_at=opened)
    store.record_batches([EventBatch(ticket=ticket, status="solved", severity="sev1", events=[
        TicketEvent(event_id=f"M1/{i}", seq=i, at=at, recorded_at=at, kind=k, detail=d) for i, (at, k, d) in enumerate(events, 1)])])

    monthly = build_review("monthly-report", store.engine, default_policy, now)
    # One Sev-1: answered in 30 min (goal met), solved in 5h (MTTR goal met); no ratings, no reopens.
    assert monthly.period == "2026-10" and monthly.counts == {"tickets": 1, "goals_missed": 0}
    assert monthly.text.splitlines()[:2] == [
        "Tickets opened Thu 01 Oct to Sat 31 Oct 2026 (UTC): 1.",
        "First response median 30m, MTTR 5h00m, first response breached 0.0%, resolution breached 0.0%, CSAT - of 0 rated, reopen rate 0.0%."]
    assert "<svg" in monthly.html and monthly.subject == "Support report 2026-10: 0 goal(s) missed"

    # Tokyo's November (SQLite compares instants as UTC text: the bounds go in as UTC): opened at
    # 05:00 on 1 November in Tokyo (20:00 UTC on 31 October) counts; 23:00 on 31 October in Tokyo does not.
    for tid, opened_utc in (("K1", datetime(2026, 10, 31, 20, 0, tzinfo=UTC)), ("K0", datetime(2026, 10, 31, 14, 0, tzinfo=UTC))):
        store.record_batches([EventBatch(ticket=TicketOpened(ticket_id=tid, customer="ACME", title=tid, severity="sev2", opened_at=opened_utc),
                                         status="open", severity="sev2", events=[TicketEvent(event_id=f"{tid}/1", seq=1, at=opened_utc,
                                                                                             recorded_at=opened_utc, kind="opened", detail={})])])
    tokyo = build_review("monthly-report", store.engine, default_policy, datetime(2026, 11, 30, 23, 0, tzinfo=UTC), "Asia/Tokyo")
    assert tokyo.period == "2026-11" and tokyo.counts["tickets"] == 1
    assert tokyo.text.startswith("Tickets opened Sun 01 Nov to Mon 30 Nov 2026 (Asia/Tokyo): 1.")
    assert "Support report 2026-11-01 to 2026-11-30 (Asia/Tokyo)" in tokyo.html

    items = build_review("open-post-incident", store.engine, default_policy, now)
    # Outstanding by now + 2 days: action-1 (bob, overdue a day) and the review (due tomorrow); the RCA is
    # due in 5 days (not yet), action-2 is done.
    assert items.counts == {"outstanding": 2, "overdue": 1}
    assert items.text.splitlines() == ["2 outstanding post-incident item(s): 1 overdue, 1 due within 2 days",
                                       "  (no owner: the incident's commander): 1", "  bob: 1"]
    assert "Alert on card declines" in items.html and "Runbook" not in items.html


async def test_a_trigger_that_times_out_says_what_the_run_waits_on(store, dev_env: WorkflowEnvironment, tmp_path: Path, unique: str) -> None:
    contacts = tmp_path / "contacts.toml"
    contacts.write_text('[[contacts]]\nrole = "support_manager"\nchannel = "email"\naddress = "m@example.com"\nreviewed_on = 2026-11-01\n')
    queue, schedule_id = f"tq-{unique}", f"down-{unique}"
    settings = NotifierSettings(contacts_path=contacts, smtp=SmtpSettings(host="127.0.0.1", port=free_port(), timeout=2))  # nobody listens
    code, _, err = await escalator(dev_env, "schedule", "create", "open-post-incident", "--to", "support_manager", "--id", schedule_id,
                                   "--task-queue", queue, "--contacts", str(contacts))
    assert code == 0, err
    try:
        code, _, err = await escalator(dev_env, "schedule", "trigger", schedule_id, "--wait", "3")
        assert code == 1 and "no result within 3 s: no worker has taken it yet (is a worker running on its task queue?)" in err, err
        async with build_worker(dev_env.client, queue, store=store, notifier=settings):
            code, _, err = await escalator(dev_env, "schedule", "trigger", schedule_id, "--wait", "6")
        assert code == 1 and "the send is retried (attempt 2): SMTPConnectError: Error connecting to 127.0.0.1" in err, err
    finally:
        await escalator(dev_env, "schedule", "delete", schedule_id)
        async for wf in dev_env.client.list_workflows(f"WorkflowId STARTS_WITH 'review-{schedule_id}' AND ExecutionStatus = 'Running'"):
            await dev_env.client.get_workflow_handle(wf.id).terminate("test over")
