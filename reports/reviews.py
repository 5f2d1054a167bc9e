"""The scheduled reviews: what each one reports, for which period (docs/reports.md).

- `monthly-report`: the whole report of last month, by severity (the HTML page with charts).
- `weekly-review`: Sev-1 and Sev-2 of the last full week (Monday to Monday, UTC): counts,
  breaches, MTTR, the change against the week before, and their open post-incident items.
- `open-post-incident`: every outstanding review, RCA and corrective action past due or due
  within two days, by owner.

Each builds a `Review`: a subject, a plain-text summary (Slack and the mail's body), an HTML page
(attached to the mail) and its counts. The period is part of the delivery's idempotency key, so
a review sent for a period is not sent again, however often it is triggered.
"""

from __future__ import annotations

import html
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from pydantic import BaseModel
from sqlalchemy import Engine, select

from reports.render import duration, goal_line, percent
from reports.report import build, last_full_month
from sla.policy import Policy
from store.instants import as_utc
from store.schema import post_incident_items, tickets

KINDS = ("monthly-report", "weekly-review", "open-post-incident")
NEAR_DUE = timedelta(days=2)


class Review(BaseModel):
    kind: str
    period: str
    subject: str
    text: str
    html: str
    counts: dict[str, int]


def _midnight(day, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0), tzinfo=zone)


def period_of(kind: str, now: datetime, zone: str = "UTC") -> tuple[str, datetime, datetime]:
    """(the period's name, its start, its end) for a review made at `now`, in the schedule's
    `zone` (the one its cron reads in, so 08:00 on the 1st in Tokyo reports Tokyo's last month):
    last month ('2026-10'), last full ISO week, Monday to Monday ('2026-W47'), or the day itself
    ('2026-11-30') for the open items."""
    if kind not in KINDS:
        raise ValueError(f"no review {kind!r} (have {', '.join(KINDS)})")
    tz = ZoneInfo(zone)
    today = now.astimezone(tz).date()
    if kind == "monthly-report":
        first, last = last_full_month(today)
        return f"{first:%Y-%m}", _midnight(first, tz), _midnight(last, tz)
    if kind == "weekly-review":
        monday = today - timedelta(days=today.weekday() + 7)
        year, week, _ = monday.isocalendar()
        return f"{year}-W{week:02d}", _midnight(monday, tz), _midnight(monday + timedelta(days=7), tz)
    return today.isoformat(), _midnight(today, tz), now


def covers(start: datetime, end: datetime) -> str:
    """'Mon 23 Nov to Sun 29 Nov 2026 (Europe/Berlin)': the days a period covers, its end exclusive."""
    last = (end - timedelta(days=1)).date()
    return f"{start:%a %d %b} to {last:%a %d %b %Y} ({start.tzinfo})"


def build_review(kind: str, engine: Engine, policy: Policy, now: datetime, zone: str = "UTC") -> Review:
    """The review of `kind` as made at `now` in `zone`; ValueError for an unknown kind."""
    period, start, end = period_of(kind, now, zone)
    from reports import html as html_report  # matplotlib: only when a review is built

    if kind == "monthly-report":
        report = build(engine, policy, start, end, ("severity",), as_of=now, charts=True, zone=zone)
        o = report.overall
        lines = [f"Tickets opened {covers(start, end)}: {o.tickets}."]
        if o.tickets:
            lines.append(f"First response median {duration(o.first_response.median)}, MTTR {duration(o.resolution.mean)}, "
                         f"first response breached {percent(o.first_response_clock.breach_rate)}, resolution breached "
                         f"{percent(o.resolution_clock.breach_rate)}, CSAT {percent(o.csat)} of {o.rated} rated, reopen rate {percent(o.reopen_rate)}.")
        lines += [goal_line(g) for g in report.goals]
        verdict = f"{len(report.misses)} goal(s) missed" if o.tickets else "no tickets"
        return Review(kind=kind, period=period, subject=f"Support report {period}: {verdict}",
                      text="\n".join(lines), html=html_report.render(report),
                      counts={"tickets": o.tickets, "goals_missed": len(report.misses)})
    if kind == "weekly-review":
        return _weekly(engine, policy, period, start, end, now)
    return _open_items(engine, period, now)


def _weekly(engine: Engine, policy: Policy, period: str, start: datetime, end: datetime, now: datetime) -> Review:
    this = {g.key["severity"]: g for g in build(engine, policy, start, end, ("severity",), as_of=now).groups}
    before = {g.key["severity"]: g for g in build(engine, policy, start - timedelta(days=7), start, ("severity",), as_of=now).groups}
    open_items = _outstanding(engine, now, severities=("sev1", "sev2"))
    lines, rows, counts = [f"Sev-1 and Sev-2 tickets opened {covers(start, end)}, against the week before:"], [], {}
    for severity in ("sev1", "sev2"):
        g, b = this.get(severity), before.get(severity)
        n, was = (g.tickets if g else 0), (b.tickets if b else 0)
        breaches = (g.first_response_clock.breached + g.resolution_clock.breached) if g else 0
        was_breaches = (b.first_response_clock.breached + b.resolution_clock.breached) if b else 0
        mttr = g.resolution.mean if g else None
        counts |= {f"{severity}_tickets": n, f"{severity}_breaches": breaches}
        lines.append(f"{severity}: {n} tickets ({n - was:+d} on the week before), {breaches} clock(s) breached ({breaches - was_breaches:+d}), "
                     f"MTTR {duration(mttr)} (was {duration(b.resolution.mean if b else None)})")
        rows.append((severity, n, f"{n - was:+d}", breaches, f"{breaches - was_breaches:+d}", duration(mttr)))
    counts["open_post_incident"] = len(open_items)
    lines.append(f"open post-incident items of Sev-1/Sev-2 tickets: {len(open_items)}")
    page = _page(f"Weekly review {period}: {covers(start, end)}", ["severity", "tickets", "change", "clocks breached", "change", "MTTR"], rows,
                 _items_table(open_items))
    return Review(kind="weekly-review", period=period, subject=f"Weekly review {period} ({start:%d %b}-{end - timedelta(days=1):%d %b}): "
                  f"{counts['sev1_tickets']} Sev-1, {counts['sev2_tickets']} Sev-2, {len(open_items)} open post-incident item(s)",
                  text="\n".join(lines), html=page, counts=counts)


def _outstanding(engine: Engine, now: datetime, severities: tuple[str, ...] | None = None) -> list[dict]:
    """Items not done nor waived, due by now + NEAR_DUE, by owner then due instant."""
    p = post_incident_items.c
    stmt = (select(p.ticket_id, p.item, p.kind, p.title, p.owner, p.due, tickets.c.severity, tickets.c.customer)
            .join(tickets, tickets.c.ticket_id == p.ticket_id)
            .where(p.done_at.is_(None), p.waived.is_(False), p.due <= now + NEAR_DUE))
    if severities:
        stmt = stmt.where(tickets.c.severity.in_(severities))
    with engine.connect() as conn:
        rows = [dict(r._mapping) for r in conn.execute(stmt)]
    for r in rows:
        r["due"] = as_utc(r["due"])
        r["owner"] = r["owner"] or "(no owner: the incident's commander)"
        r["state"] = "overdue" if r["due"] <= now else "due soon"
    return sorted(rows, key=lambda r: (r["owner"], r["due"]))


def _items_table(items: list[dict]) -> list[tuple]:
    return [(i["owner"], i["ticket_id"], i["severity"], i["kind"], i["title"] or i["item"], f"{i['due']:%Y-%m-%d %H:%M}", i["state"])
            for i in items]


def _open_items(engine: Engine, period: str, now: datetime) -> Review:
    items = _outstanding(engine, now)
    overdue = sum(1 for i in items if i["state"] == "overdue")
    owners: dict[str, int] = {}
    for i in items:
        owners[i["owner"]] = owners.get(i["owner"], 0) + 1
    text = [f"{len(items)} outstanding post-incident item(s): {overdue} overdue, {len(items) - overdue} due within {NEAR_DUE.days} days"]
    text += [f"  {owner}: {n}" for owner, n in owners.items()]
    page = _page(f"Open post-incident items {period}", ["owner", "ticket", "severity", "kind", "item", "due (UTC)", "state"],
                 _items_table(items))
    return Review(kind="open-post-incident", period=period, subject=f"Open post-incident items: {overdue} overdue, "
                  f"{len(items) - overdue} due soon", text="\n".join(text), html=page,
                  counts={"outstanding": len(items), "overdue": overdue})


def _page(title: str, heads: list[str], rows: list[tuple], more: list[tuple] | None = None) -> str:
    from reports.html import STYLE

    e = html.escape

    def table(hs, rs) -> str:
        return ("<table><tr>" + "".join(f"<th>{e(h)}</th>" for h in hs) + "</tr>"
                + "".join("<tr>" + "".join(f"<td>{e(str(c))}</td>" for c in r) + "</tr>" for r in rs) + "</table>")

    body = table(heads, rows)
    if more is not None:
        body += "<h2>Open post-incident items</h2>" + (table(["owner", "ticket", "severity", "kind", "item", "due (UTC)", "state"], more)
                                                        if more else "<p>None.</p>")
    return (f"<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{e(title)}</title>"
            f"<style>{STYLE}</style></head><body><h1>{e(title)}</h1>{body}</body></html>\n")
