"""The report's aggregates, computed by SQL over one row per ticket (its facts: store/facts.py).

A group's counts and sums come from one GROUP BY; each percentile comes from a window query
that numbers the values of each group and returns only the two rows the percentile lies
between (sla/report_metrics.percentile_rows), so nothing is read into Python row by row. The same
statements run on SQLite and PostgreSQL; what differs (month and week of an instant, in UTC)
is chosen by dialect here. Tickets belong to the period they were opened in.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, and_, case, func, literal, or_, select

from sla import report_metrics as rm
from sla.ticket import ClockName
from store.schema import post_incident_items, tickets

GROUPINGS = ("month", "week", "severity", "plan", "customer")
FINISHED = ("solved", "closed")
MEASURES = ("first_response_elapsed_s", "first_response_business_s", "resolution_elapsed_s", "resolution_business_s")
FRT_BUCKETS = (15, 30, 60, 120, 240, 480, 1440, 2880)  # upper edges in minutes; the last bucket is open
OTHER_CLOCKS = [c.value for c in ClockName if c not in (ClockName.FIRST_RESPONSE, ClockName.RESOLUTION)]
t = tickets.c


def group_expressions(dialect: str, by: tuple[str, ...]) -> list:
    """The SQL expression of each grouping, labelled by its name (month 'YYYY-MM', week: its Monday)."""
    out = []
    for name in by:
        if name == "month":
            expr = func.strftime("%Y-%m", t.opened_at) if dialect == "sqlite" else func.to_char(func.timezone("UTC", t.opened_at), "YYYY-MM")
        elif name == "week":
            expr = (func.date(t.opened_at, "weekday 0", "-6 days") if dialect == "sqlite"
                    else func.to_char(func.date_trunc("week", func.timezone("UTC", t.opened_at)), "YYYY-MM-DD"))
        elif name == "plan":
            expr = func.coalesce(t.plan, "(none)")
        else:
            expr = t[name]
        out.append(expr.label(name))
    return out


def _net_breach(clock: str):
    return t[f"breaches_{clock}"] - t[f"withdrawn_{clock}"] > 0


def _count(condition):
    return func.sum(case((condition, 1), else_=0))


def _totals(groups: list, where) -> select:
    finished = t.status.in_(FINISHED)
    fr_breached, res_breached = _net_breach("first_response"), _net_breach("resolution")
    columns = [
        func.count().label("tickets"),
        *[func.count(t[m]).label(f"{m}_n") for m in MEASURES],
        *[func.sum(t[m]).label(f"{m}_sum") for m in MEASURES],
        func.sum(t.first_response_paused_s).label("first_response_paused_sum"),
        func.count(t.first_response_paused_s).label("first_response_paused_n"),
        func.sum(t.resolution_paused_s).label("resolution_paused_sum"),
        func.count(t.resolution_paused_s).label("resolution_paused_n"),
        func.count(t.first_response_seq).label("responded"),
        _count(fr_breached).label("fr_breached"),
        _count(and_(~fr_breached, or_(t.first_response_seq.is_not(None), finished))).label("fr_met"),
        _count(res_breached).label("res_breached"),
        _count(and_(~res_breached, finished)).label("res_met"),
        *[_count(_net_breach(c)).label(f"breached_{c}") for c in OTHER_CLOCKS],
        _count(t.csat_score.in_(sorted(rm.RATED))).label("rated"),
        _count(t.csat_score.in_(sorted(rm.SATISFIED))).label("satisfied"),
        func.count(t.resolution_seq).label("solved"),
        _count(t.reopens > 0).label("reopened"),
        _count(t.auto_solved.is_(True)).label("auto_solved"),
        *[func.sum(t[f"escalations_{k}"]).label(f"escalations_{k}") for k in ("automatic", "functional", "hierarchical", "manual")],
    ]
    stmt = select(*groups, *columns).where(where)
    return stmt.group_by(*groups) if groups else stmt


def _post_incident(groups: list, where, as_of: datetime) -> select:
    p = post_incident_items.c
    owed = and_(p.waived.is_(False), or_(p.done_at.is_not(None), p.due <= as_of))  # due by the as-of, or done
    on_time = and_(p.waived.is_(False), p.done_at.is_not(None), p.done_at <= p.due)
    columns = [_count(and_(p.kind == kind, cond)).label(f"{kind}_{what}")
               for kind in ("review", "rca") for what, cond in (("due", owed), ("on_time", on_time))]
    stmt = select(*groups, *columns).select_from(post_incident_items.join(tickets, t.ticket_id == p.ticket_id)).where(where)
    return stmt.group_by(*groups) if groups else stmt


def _percentile_rows(conn: Connection, groups: list, where, measure: str) -> dict[tuple, dict[int, tuple[float, float, float]]]:
    """Per group key: {percent: (lower value, higher value, fraction)} for the measure."""
    names = [g.name for g in groups]
    partition = [g.element for g in groups] or None
    inner = select(*groups, t[measure].label("v"), func.row_number().over(partition_by=partition, order_by=t[measure]).label("rn"),
                   func.count().over(partition_by=partition).label("n")).where(where, t[measure].is_not(None)).subquery()
    wanted = []
    for p in rm.PERCENTS:
        wanted += [inner.c.rn == (inner.c.n - 1) * p // 100 + 1, inner.c.rn == ((inner.c.n - 1) * p + 99) // 100 + 1]
    rows = conn.execute(select(*[inner.c[n] for n in names], inner.c.v, inner.c.rn, inner.c.n).where(or_(*wanted))).all()
    values: dict[tuple, dict[int, float]] = {}
    counts: dict[tuple, int] = {}
    for row in rows:
        key = tuple(str(row[i]) for i in range(len(names)))
        values.setdefault(key, {})[row.rn] = float(row.v)
        counts[key] = row.n
    out: dict[tuple, dict[int, tuple[float, float, float]]] = {}
    for key, by_rank in values.items():
        for p in rm.PERCENTS:
            low, high, fraction = rm.percentile_rows(counts[key], p)
            out.setdefault(key, {})[p] = (by_rank[low], by_rank[high], fraction)
    return out


def aggregate(conn: Connection, by: tuple[str, ...], start: datetime, end: datetime, as_of: datetime) -> list[rm.GroupMetrics]:
    """One GroupMetrics per group of the tickets opened in [start, end), ordered by the group key
    (one group, key {}, when `by` is empty)."""
    groups = group_expressions(conn.dialect.name, by)
    where = and_(t.opened_at >= start, t.opened_at < end)
    names = [g.name for g in groups]

    def key_of(row) -> tuple:
        return tuple(str(row[i]) for i in range(len(names)))

    totals = {key_of(r): r for r in conn.execute(_totals(groups, where)).all()}
    post = {key_of(r): r for r in conn.execute(_post_incident(groups, where, as_of)).all()}
    picks = {m: _percentile_rows(conn, groups, where, m) for m in MEASURES}
    out = []
    for key in sorted(totals):
        r = totals[key]
        if not r.tickets:
            continue
        pi = post.get(key)

        def dist(measure: str) -> rm.Distribution:
            return rm.distribution(r._mapping[f"{measure}_n"], r._mapping[f"{measure}_sum"], picks[measure].get(key, {}))

        out.append(rm.GroupMetrics(
            key=dict(zip(names, key)), tickets=r.tickets,
            first_response=dist("first_response_elapsed_s"), first_response_business=dist("first_response_business_s"),
            first_response_paused_mean=rm.mean(r.first_response_paused_sum, r.first_response_paused_n),
            first_response_unmeasured=r.responded - r.first_response_business_s_n,
            resolution=dist("resolution_elapsed_s"), resolution_business=dist("resolution_business_s"),
            resolution_paused_mean=rm.mean(r.resolution_paused_sum, r.resolution_paused_n),
            resolution_unmeasured=r.solved - r.resolution_business_s_n,
            first_response_clock=rm.ClockOutcomes(met=r.fr_met, breached=r.fr_breached, running=r.tickets - r.fr_met - r.fr_breached),
            resolution_clock=rm.ClockOutcomes(met=r.res_met, breached=r.res_breached, running=r.tickets - r.res_met - r.res_breached),
            other_breaches={c: r._mapping[f"breached_{c}"] for c in OTHER_CLOCKS if r._mapping[f"breached_{c}"]},
            rated=r.rated, satisfied=r.satisfied, solved=r.solved, reopened=r.reopened, auto_solved=r.auto_solved,
            escalations={k: int(r._mapping[f"escalations_{k}"] or 0) for k in ("automatic", "functional", "hierarchical", "manual")},
            # SUM over no rows is NULL: a group without post-incident items owes none.
            reviews_due=(pi and pi.review_due) or 0, reviews_on_time=(pi and pi.review_on_time) or 0,
            rcas_due=(pi and pi.rca_due) or 0, rcas_on_time=(pi and pi.rca_on_time) or 0,
        ))
    return out


def frt_histogram(conn: Connection, start: datetime, end: datetime) -> dict[str, list[int]]:
    """Per severity: how many first responses (elapsed) fell in each bucket of FRT_BUCKETS (minutes),
    the last count being those over the last edge."""
    minutes = t.first_response_elapsed_s / literal(60.0)
    bucket = case(*[(minutes < edge, i) for i, edge in enumerate(FRT_BUCKETS)], else_=len(FRT_BUCKETS)).label("bucket")
    rows = conn.execute(select(t.severity, bucket, func.count()).where(
        t.opened_at >= start, t.opened_at < end, t.first_response_elapsed_s.is_not(None)).group_by(t.severity, bucket)).all()
    out: dict[str, list[int]] = {}
    for severity, index, n in rows:
        out.setdefault(severity, [0] * (len(FRT_BUCKETS) + 1))[int(index)] = n
    return out
