"""A Sev-1 opened long after it began: hundreds of missed status-update beats, caught up at once.

Opened 20 days back, the default Sev-1's cadence has missed 960 updates (one each 30 minutes)
and as many chases 15 minutes after each. The workflow acts on them in one overdue digest per
role within its first workflow task; before the planner found the next beat by halving and the
digest kept its list of taken obligations, that task took longer than the SDK's 2-second
deadlock limit and failed again and again (a stuck ticket, seen in a new user's trial).
"""

from __future__ import annotations

from datetime import timedelta

from sla.ticket import ClockName, TicketOpened
from tests.test_ticket_workflow import RecordingNotifier
from worker.main import build_worker
from workflows.ticket import TicketWorkflow


async def test_a_sev1_opened_20_days_late_catches_up_in_one_digest(store, ts_env) -> None:
    recorder = RecordingNotifier(store)
    async with build_worker(ts_env.client, task_queue="tq", store=store, notify=recorder.notify):
        now = await ts_env.get_current_time()
        opened = TicketOpened(ticket_id="T-late", customer="ACME", title="found late", severity="sev1", opened_at=now - timedelta(days=20))
        handle = await ts_env.client.start_workflow(TicketWorkflow.run, opened, id=opened.ticket_id, task_queue="tq")
        for _ in range(100):
            view = await handle.query(TicketWorkflow.state)
            reminders = [f for f in view.state.fired if f.clock is ClockName.STATUS_UPDATE and "/breach" in f.id]
            if len(reminders) >= 960:
                break
            await ts_env.sleep(timedelta(seconds=1))
    assert len(reminders) == 960  # every 30 minutes for 20 days, the last one at the opening + 480h
    assert all(f.kind == "breach" for f in reminders)
    digests = [n for n in recorder.sent if n.kind == "digest"]
    assert digests and len(recorder.sent) < 20  # a few digests per role, not a notification per missed beat
