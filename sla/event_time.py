"""Event time: a message is applied at the instant it happened, in order, and at most once.

A helpdesk that forwards events late, or a worker outage, must not turn a response given in
time into a breach. So every message may say when it happened (`occurred_at`) and carries the
sender's `event_id`. The rules (docs/api.md, "Event time"):

- `occurred_at` may be at most `MAX_AHEAD` after the workflow's time (clock skew; it then counts
  as now), never before the ticket was opened, never before the last message applied.
- An event id is applied once; the last `KEEP_EVENT_IDS` ids are kept (also across
  continue-as-new, in the state).
- An obligation acted on after the instant a late message happened, and that the message shows
  was not owed (a breach of a clock the message met), is withdrawn: it stays in `fired`, marked.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sla.messages import TicketMessage
from sla.planner import plan
from sla.policy import Policy
from sla.ticket import FiredObligation, TicketState

MAX_AHEAD = timedelta(minutes=2)
KEEP_EVENT_IDS = 500
WITHDRAWABLE = ("warning", "breach", "escalation")


def is_duplicate(state: TicketState, request: TicketMessage) -> bool:
    """True when the ticket has already applied this event id (the message is then a no-op)."""
    return request.event_id is not None and request.event_id in state.applied_events


def check_event_time(state: TicketState, request: TicketMessage, now: datetime) -> None:
    """Refuse an `occurred_at` outside its bounds, naming the field and the message it would precede."""
    at = request.occurred_at
    if at is None:
        return
    if at > now + MAX_AHEAD:
        raise ValueError(f"occurred_at: {_iso(at)} is more than {int(MAX_AHEAD.total_seconds() // 60)} minutes ahead of the ticket's time ({_iso(now)})")
    if at < state.ticket.opened_at - MAX_AHEAD:
        raise ValueError(f"occurred_at: {_iso(at)} is before the ticket was opened ({_iso(state.ticket.opened_at)})")
    if state.last_message_at is not None and at < state.last_message_at:
        raise ValueError(f"occurred_at: {_iso(at)} would precede the last message applied to the ticket "
                         f"({state.last_message or 'a message'} at {_iso(state.last_message_at)}): messages apply in order")


def applied_at(request: TicketMessage, now: datetime, opened_at: datetime | None = None) -> datetime:
    """The instant a message takes effect: when it happened, or now (also for a little clock skew
    ahead); never before the ticket opened (up to 2 minutes before it is clock skew too)."""
    at = min(request.occurred_at, now) if request.occurred_at is not None else now
    return max(at, opened_at) if opened_at is not None else at


def record_message(state: TicketState, request: TicketMessage, at: datetime, what: str) -> None:
    """Remember the message's instant (for the order rule) and its event id (for at-most-once)."""
    state.last_message_at = at
    state.last_message = what + (f" (event {request.event_id})" if request.event_id else "")
    if request.event_id is not None:
        state.applied_events = (state.applied_events + [request.event_id])[-KEEP_EVENT_IDS:]


def withdraw_overtaken(policy: Policy, state: TicketState, since: datetime, now: datetime, reason: str,
                       **plan_flags: bool) -> list[FiredObligation]:
    """Withdraw what was acted on after `since` and is no longer owed now that a message of `since`
    is applied; returns the obligations withdrawn (the state changes in place).

    An obligation is owed if, with it (and its own effect on the state) undone, the planner would
    still have it due by `now`. Earliest first and until nothing changes, so a step anchored on a
    withdrawn breach, or the earlier firing of a repeated step, goes too. Lifecycle moves
    (auto-solve, auto-close, follow-ups) and re-escalations of an acknowledged page stay.
    """
    withdrawn: list[FiredObligation] = []
    changed = True
    while changed:
        changed = False
        for index, fired in sorted(enumerate(state.fired), key=lambda pair: pair[1].due):
            if fired.withdrawn or fired.due <= since or fired.kind not in WITHDRAWABLE:
                continue
            trial = state.model_copy(deep=True)
            if not _undo(trial, trial.fired[index]):
                continue
            if any(ob.id == fired.id and ob.due <= now for ob in plan(policy, trial, now, **plan_flags)):
                continue
            trial.fired[index].withdrawn_reason = reason
            for name in type(state).model_fields:
                setattr(state, name, getattr(trial, name))
            withdrawn.append(state.fired[index])
            changed = True
            break
    return withdrawn


def _undo(state: TicketState, fired: FiredObligation) -> bool:
    """Mark `fired` withdrawn in `state` and undo what acting on it changed; False if that cannot be undone."""
    tid = state.ticket.ticket_id
    if "/escalation/" in fired.id:
        step, firing = fired.id.split("/escalation/")[1].split("/")[:2]
        record = state.escalations.get(step)
        if not firing.isdigit() or record is None or len(record.fired) != int(firing) or record.fired[-1] != fired.due:
            return False  # an ack timeout, or not the step's last firing (a later pass may take it)
        record.fired.pop()
    elif fired.kind == "breach" and fired.clock is not None:
        record = state.clocks.get(fired.clock)
        if record is not None and fired.id.startswith(f"{tid}/{record.clock.value}/{record.cycle}/") and record.breached_at == fired.due:
            record.breached_at = None
    fired.withdrawn = True
    return True


def correction(kind: str, what: str, at: datetime, now: datetime, zone: ZoneInfo) -> str:
    """The short text the roles told of a withdrawn obligation get, in the calendar's zone:
    "breach withdrawn: responded by alice 2026-11-30 10:59:00+01:00, reported 11:05:00"."""
    happened = at.astimezone(zone)
    reported = now.astimezone(zone)
    same_day = happened.date() == reported.date()
    return (f"{kind} withdrawn: {what} {happened.isoformat(sep=' ', timespec='seconds')}, "
            f"reported {reported:%H:%M:%S}" + ("" if same_day else f" on {reported:%Y-%m-%d}"))




def _iso(t: datetime) -> str:
    return t.isoformat().replace("+00:00", "Z")
