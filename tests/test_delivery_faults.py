"""Nothing silently dropped: receivers down, refusing, a store outage (time-skipping server, real webhooks).

Each notify attempt is logged with the instant the workflow scheduled it (workflow time, which
the test server skips): that is when the message reached the receiver, to well under a second.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy.exc import OperationalError
from temporalio import activity
from temporalio.testing import WorkflowEnvironment

from activities.notify import Notifier, NotifierSettings
from sla.messages import Delivery, EventBatch, Notification
from store.schema import deliveries
from store.ticket_store import TicketStore
from tests.receivers import HttpReceiver
from tests.test_escalation_workflow import walk_to
from tests.test_ticket_workflow import open_ticket, state_after_snapshot
from worker.main import build_worker
from workflows.ticket import TicketWorkflow

SECRET = "whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
HEALTHY = ("support_manager", "incident_commander", "support_on_call", "support_l2", "support_l3", "engineering_oncall",
           "account_manager", "head_of_support", "stakeholders")


class AttemptLog:
    """The real notifier, with each attempt's scheduled instant (workflow time) and outcome kept."""

    def __init__(self, store, settings: NotifierSettings) -> None:
        self.real = Notifier(store, settings)
        self.attempts: list[tuple[Notification, datetime, Delivery]] = []

    @activity.defn(name="notify")
    async def notify(self, note: Notification) -> Delivery:
        at = activity.info().current_attempt_scheduled_time
        result = await self.real.notify(note)
        self.attempts.append((note, at, result))
        return result

    def of(self, key: str) -> list[tuple[Notification, datetime, Delivery]]:
        return [a for a in self.attempts if a[0].idempotency_key == key]

    def reached(self, key: str, role: str) -> list[tuple[datetime, str]]:
        """(attempt instant, status) of each attempt that reached `role` for `key`."""
        return [(at, o.status) for note, at, result in self.of(key) for o in result.outcomes
                if o.role == role and o.status in ("delivered", "delivered_by_fallback") and o.accepted]


def contacts_file(tmp_path: Path, monkeypatch, entries: list[tuple[str, str, bool]]) -> NotifierSettings:
    """Webhook contacts (role, url, fallback) signed with one secret."""
    path = tmp_path / "contacts.toml"
    path.write_text("".join(
        f'[[contacts]]\nrole = "{role}"\nchannel = "webhook"\naddress = "{url}"\nsecret_env = "HOOK_SECRET"\n'
        f'reviewed_on = 2026-11-01\n{"fallback = true" if fallback else ""}\n' + ('customer = "ACME"\n' if role == "account_manager" else "") + "\n"
        for role, url, fallback in entries
    ))
    monkeypatch.setenv("HOOK_SECRET", SECRET)
    return NotifierSettings(contacts_path=path, allow_private_urls=True)


def ids(receiver: HttpReceiver, path: str, since: int = 0) -> list[str]:
    return [r.headers["webhook-id"] for r in receiver.requests[since:] if r.path == path]


async def test_a_primary_down_from_1h55_to_2h12_gets_its_fallback_at_2h05_and_the_message_once_after(
        store, ts_env: WorkflowEnvironment, tmp_path: Path, monkeypatch) -> None:
    primary, healthy = HttpReceiver(), HttpReceiver()
    settings = contacts_file(tmp_path, monkeypatch, [("support_l1", primary.url("/support_l1"), False),
                                                      ("support_l1", healthy.url("/support_l1-fallback"), True)]
                             + [(role, healthy.url("/" + role), False) for role in HEALTHY])
    log = AttemptLog(store, settings)
    try:
        async with build_worker(ts_env.client, task_queue="tq", store=store, notify=log.notify):
            opened, handle = await open_ticket(ts_env, "tq", severity="sev1")
            await state_after_snapshot(handle)
            t0, tid = opened.opened_at, opened.ticket_id
            await walk_to(ts_env, t0, timedelta(hours=1, minutes=55))
            primary.default = (503, b"busy", {})
            await walk_to(ts_env, t0, timedelta(hours=2, minutes=6))
            meanwhile = await handle.query(TicketWorkflow.state)  # both roles reached: it says so while the primary is retried
            await walk_to(ts_env, t0, timedelta(hours=2, minutes=12))
            recovered_from = len(primary.requests)
            primary.default = (200, b"ok", {})
            await walk_to(ts_env, t0, timedelta(hours=2, minutes=20))
            view = await handle.query(TicketWorkflow.state)
    finally:
        primary.close()
        healthy.close()
    breach = f"{tid}/first_response/1/breach"
    due = t0 + timedelta(hours=2)
    print("\n  delivery                         due      received (workflow time)")
    for role in ("support_manager", "support_l1"):
        for at, status in log.reached(breach, role):
            print(f"  first-response breach -> {role:<16} +{due - t0}  +{at - t0}  {status}")
    reminder = f"{tid}/status_update/1/breach4"
    for at, status in log.reached(reminder, "incident_commander"):
        print(f"  status-update reminder -> incident_commander +{due - t0}  +{at - t0}  {status}")

    (manager,) = log.reached(breach, "support_manager")
    assert manager[1] == "delivered" and due <= manager[0] < due + timedelta(seconds=1)  # the healthy role: on time
    reached_l1 = log.reached(breach, "support_l1")
    # The fallback at the end of fallback_after (5 minutes after the first attempt), the primary once it recovered.
    assert [status for _, status in reached_l1] == ["delivered_by_fallback", "delivered"]
    assert abs(reached_l1[0][0] - manager[0] - timedelta(minutes=5)) < timedelta(seconds=1)
    assert ids(healthy, "/support_l1-fallback").count(breach) == 1
    # The primary gets it once it recovers (the next attempt after 2h12), exactly once.
    assert ids(primary, "/support_l1", recovered_from).count(breach) == 1
    assert reached_l1[-1][0] > due + timedelta(minutes=12)
    # A reminder due during the outage, to another role, is on time: the outage holds up nothing.
    ((reminded_at, _),) = log.reached(reminder, "incident_commander")
    assert due <= reminded_at < due + timedelta(seconds=1)
    fired = next(f for f in view.state.fired if f.id == breach)
    assert fired.outcomes == {"support_l1": "delivered_by_fallback", "support_manager": "delivered"} and fired.delivered is True
    early = next(f for f in meanwhile.state.fired if f.id == breach)
    assert early.outcomes == fired.outcomes and early.delivered is True
    _, rows = store.timeline(tid)
    assert any(r["kind"] == "delivery" and r["detail"]["obligation"] == breach for r in rows)


async def test_a_410_goes_to_the_fallback_at_once_and_24h_of_503_is_given_up_and_told_once(
        store, ts_env: WorkflowEnvironment, tmp_path: Path, monkeypatch) -> None:
    down, gone, healthy = HttpReceiver(default=(503, b"busy", {})), HttpReceiver(default=(410, b"gone", {})), HttpReceiver()
    settings = contacts_file(tmp_path, monkeypatch, [("support_l1", down.url("/support_l1"), False),
                                                      ("support_l2", gone.url("/support_l2"), False),
                                                      ("support_l2", healthy.url("/support_l2-fallback"), True)]
                             + [(role, healthy.url("/" + role), False) for role in HEALTHY if role != "support_l2"])
    log = AttemptLog(store, settings)
    try:
        async with build_worker(ts_env.client, task_queue="tq", store=store, notify=log.notify):
            opened, handle = await open_ticket(ts_env, "tq", severity="sev1")
            await state_after_snapshot(handle)
            t0, tid = opened.opened_at, opened.ticket_id
            for hours in range(1, 27):  # an hour a call: the test server gives up on one long sleep
                await walk_to(ts_env, t0, timedelta(hours=hours, minutes=5))
            view = await handle.query(TicketWorkflow.state)
    finally:
        down.close()
        gone.close()
        healthy.close()
    internal = f"{tid}/escalation/internal/1"
    ((at, status),) = log.reached(internal, "support_l2")
    assert status == "delivered_by_fallback" and t0 + timedelta(hours=4) <= at < t0 + timedelta(hours=4, seconds=1)
    assert ids(gone, "/support_l2").count(internal) == 1  # a 410 is final: not tried again

    breach = f"{tid}/first_response/1/breach"
    attempts = log.of(breach)
    # Given up give_up_after (24h) after the first attempt (2h00, when the breach fell due).
    assert abs(attempts[-1][1] - attempts[0][1] - timedelta(hours=24)) < timedelta(seconds=1)
    assert attempts[0][1] < t0 + timedelta(hours=2, seconds=1)
    assert 200 < len(attempts) < 400
    fired = next(f for f in view.state.fired if f.id == breach)
    assert fired.delivered is False and fired.outcomes["support_l1"].startswith("given_up") and fired.outcomes["support_manager"] == "delivered"
    told = log.of(f"{breach}/delivery_failed")
    assert len(told) == 1 and told[0][0].roles == ["support_manager"] and told[0][1] - attempts[-1][1] < timedelta(seconds=1)
    assert ids(healthy, "/support_manager").count(f"{breach}/delivery_failed") == 1
    warning = next(f for f in view.state.fired if f.id == f"{tid}/first_response/1/warn75")
    assert warning.outcomes == {"support_l1": "superseded"}  # its breach went out: it no longer mattered
    _, rows = store.timeline(tid)
    given_up = [r for r in rows if r["kind"] == "delivery" and r["detail"]["obligation"] == breach]
    assert len(given_up) == 1 and "support_l1 given_up" in given_up[0]["detail"]["outcome"]


class StoreWithOutage(TicketStore):
    """The real SQLite store, refusing every call while `down` is set (as a database that is unreachable)."""

    down = False

    def _check(self) -> None:
        if self.down:
            raise OperationalError("connect", {}, ConnectionRefusedError("connection refused"))

    def delivered(self, key: str) -> bool:
        self._check()
        return super().delivered(key)

    def record_delivery(self, **kwargs) -> None:
        self._check()
        super().record_delivery(**kwargs)

    def record_events(self, batch: EventBatch) -> int:
        self._check()
        return super().record_events(batch)

    def sent_to(self, ticket_id: str, channel: str):
        self._check()
        return super().sent_to(ticket_id, channel)


async def test_a_store_outage_of_10_minutes_loses_and_delays_no_message(ts_env: WorkflowEnvironment, tmp_path: Path, monkeypatch) -> None:
    from store.ticket_store import upgrade

    url = f"sqlite:///{tmp_path / 'tickets.db'}"
    upgrade(url)
    store = StoreWithOutage(url)
    healthy = HttpReceiver()
    roles = ("support_l1",) + HEALTHY
    settings = contacts_file(tmp_path, monkeypatch, [(role, healthy.url("/" + role), False) for role in roles])
    log = AttemptLog(store, settings)
    try:
        async with build_worker(ts_env.client, task_queue="tq", store=store, notify=log.notify):
            opened, handle = await open_ticket(ts_env, "tq", severity="sev1")
            await state_after_snapshot(handle)
            t0, tid = opened.opened_at, opened.ticket_id
            await walk_to(ts_env, t0, timedelta(hours=1, minutes=55))
            store.down = True
            await walk_to(ts_env, t0, timedelta(hours=2, minutes=5))
            store.down = False
            await walk_to(ts_env, t0, timedelta(hours=2, minutes=20))
            view = await handle.query(TicketWorkflow.state)
        # Due during the outage: the first-response breach and the stakeholder reminder at 2h00.
        for key, role in ((f"{tid}/first_response/1/breach", "support_manager"), (f"{tid}/first_response/1/breach", "support_l1"),
                          (f"{tid}/status_update/1/breach4", "incident_commander")):
            ((at, status),) = log.reached(key, role)
            assert status == "delivered" and t0 + timedelta(hours=2) <= at < t0 + timedelta(hours=2, seconds=1), (key, role, at - t0)
        received = {(r.headers["webhook-id"], r.path.strip("/")) for r in healthy.requests}
        with store.engine.connect() as conn:
            logged = {(row.obligation_id, row.role) for row in conn.execute(deliveries.select().where(deliveries.c.status == "sent"))}
    finally:
        store.close()
        healthy.close()
    assert received == logged  # each message reached its receiver (once per key) and the log is complete
    assert all(f.delivered for f in view.state.fired if f.roles)



async def test_pagerduty_repeats_re_alert_one_incident_an_ack_acknowledges_it_and_resolving_resolves_all(
        store, ts_env: WorkflowEnvironment, tmp_path: Path, monkeypatch) -> None:
    import json

    from sla.messages import AcknowledgePage, Resolve

    pd = HttpReceiver(default=(202, b'{"status":"success"}', {}))
    path = tmp_path / "contacts.toml"
    path.write_text("".join(
        f'[[contacts]]\nrole = "{role}"\nchannel = "pagerduty"\naddress = "{service}"\nsecret_env = "PD_KEY"\nreviewed_on = 2026-11-01\n\n'
        for role, service in (("support_on_call", "support-primary"), ("engineering_oncall", "engineering-primary"))
    ))
    monkeypatch.setenv("PD_KEY", "R0UTINGKEY")
    settings = NotifierSettings(contacts_path=path, allow_private_urls=True, pagerduty_events_url=pd.url("/v2/enqueue"))
    try:
        async with build_worker(ts_env.client, task_queue="tq", store=store, notifier=settings):
            opened, handle = await open_ticket(ts_env, "tq", severity="sev1")
            await state_after_snapshot(handle)
            t0, tid = opened.opened_at, opened.ticket_id
            await walk_to(ts_env, t0, timedelta(hours=6, minutes=22))
            await handle.execute_update(TicketWorkflow.acknowledge_page, AcknowledgePage(step="engineering", by="oncall-eng"))
            await walk_to(ts_env, t0, timedelta(hours=6, minutes=27))
            await handle.execute_update(TicketWorkflow.resolve, Resolve(by="oncall-eng", resolution="failover"))
            await ts_env.sleep(timedelta(seconds=5))
            view = await handle.query(TicketWorkflow.state)
    finally:
        pd.close()
    events = [(e["event_action"], e["dedup_key"]) for e in (json.loads(r.body) for r in pd.requests)]
    on_call, engineering = f"{tid}/escalation/page_on_call", f"{tid}/escalation/engineering"
    assert events.count(("trigger", on_call)) == 4  # the page and its 3 repeats: one incident, re-alerted
    assert events.count(("trigger", engineering)) == 2  # 6h00 and 6h15: one incident
    assert events.count(("acknowledge", engineering)) == 1
    assert sorted(e for e in events if e[0] == "resolve") == sorted([("resolve", on_call), ("resolve", engineering)])
    assert events.index(("acknowledge", engineering)) < events.index(("resolve", engineering))
    assert all(json.loads(r.body)["routing_key"] == "R0UTINGKEY" for r in pd.requests)
    assert view.state.status.value == "solved"


async def test_a_slow_receiver_delays_only_its_own_role_and_a_refusal_is_told(store, ts_env: WorkflowEnvironment, tmp_path: Path, monkeypatch) -> None:
    import asyncio

    slow, refusing, healthy = HttpReceiver(), HttpReceiver(default=(410, b"gone", {})), HttpReceiver()
    slow.hold = lambda r: "/first_response/1/breach" in r.headers.get("webhook-id", "")
    settings = contacts_file(tmp_path, monkeypatch, [("support_l1", slow.url("/support_l1"), False),
                                                      ("incident_commander", refusing.url("/incident_commander"), False)]
                             + [(role, healthy.url("/" + role), False) for role in HEALTHY if role != "incident_commander"])
    log = AttemptLog(store, settings)
    try:
        async with build_worker(ts_env.client, task_queue="tq", store=store, notify=log.notify):
            opened, handle = await open_ticket(ts_env, "tq", severity="sev1")
            await state_after_snapshot(handle)
            t0, tid = opened.opened_at, opened.ticket_id
            await walk_to(ts_env, t0, timedelta(minutes=31))  # the 30-minute reminder: refused by the commander's only contact
            await walk_to(ts_env, t0, timedelta(hours=1, minutes=59, seconds=59))
            sleeping = asyncio.create_task(walk_to(ts_env, t0, timedelta(hours=2, minutes=1)))
            assert await asyncio.to_thread(slow.held.wait, 30), "the breach never reached the slow receiver"
            breach = f"{tid}/first_response/1/breach"
            for _ in range(50):  # while support_l1's receiver holds its answer, the manager already has the breach
                if breach in ids(healthy, "/support_manager"):
                    break
                await asyncio.sleep(0.1)
            manager_got_it = breach in ids(healthy, "/support_manager")
            slow.release.set()
            await sleeping
            view = await handle.query(TicketWorkflow.state)
    finally:
        for r in (slow, refusing, healthy):
            r.close()
    assert manager_got_it
    told = log.of(f"{tid}/status_update/1/breach/delivery_failed")
    assert len(told) == 1 and told[0][0].summary.startswith("refused by every contact, to incident_commander: ")
    reminder = next(f for f in view.state.fired if f.id == f"{tid}/status_update/1/breach")
    assert reminder.delivered is False and reminder.outcomes["incident_commander"].startswith("refused: webhook")


async def test_missed_beats_found_late_go_out_as_one_digest(store, ts_env: WorkflowEnvironment) -> None:
    from sla.ticket import TicketOpened
    from tests.test_ticket_workflow import RecordingNotifier

    notifier = RecordingNotifier(store)
    now = await ts_env.get_current_time()
    opened = TicketOpened(ticket_id="T-late-beats", customer="ACME", title="t", severity="sev1", opened_at=now - timedelta(minutes=95))
    async with build_worker(ts_env.client, task_queue="tq", store=store, notify=notifier.notify):
        handle = await ts_env.client.start_workflow(TicketWorkflow.run, opened, id=opened.ticket_id, task_queue="tq")
        await state_after_snapshot(handle)
        await ts_env.sleep(timedelta(seconds=5))
    to_commander = [n for n in notifier.sent if n.roles == ["incident_commander"]]
    assert len(to_commander) == 1 and to_commander[0].kind == "digest"
    assert to_commander[0].summary.startswith("3 overdue: status update due: Sev-1, 30m; status update due: Sev-1, 30m (2 in a row")
