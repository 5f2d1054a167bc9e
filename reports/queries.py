"""The report's aggregates, computed by SQL over one row per ticket (its facts: store/facts.py).

The period's tickets are first copied into a narrow temporary table (`period_rows`). A group's
counts and sums then come from one GROUP BY; the percentiles from one window query that numbers
each measure's values within each group and returns only the two rows each percentile lies
between (sla/report_metrics.percentile_rows), so nothing is read into Python row by row. The same
statements run on SQLite and PostgreSQL; what differs (month and week of an instant, in UTC)
is chosen by dialect here. Tickets belong to the period they were opened in.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

from sqlalchemy import Column, Connection, MetaData, String, Table, and_, case, func, insert, literal, or_, select
from sqlalchemy.schema import CreateTable, DropTable

from sla import report_metrics as rm
from sla.ticket import ClockName
from sla.ticket_facts import ESCALATION_KINDS
from store.schema import post_incident_items, tickets

GROUPINGS = ("month", "week", "severity", "plan", "customer")
FINISHED = ("solved", "closed")
MEASURES = ("first_response_elapsed_s", "first_response_business_s", "resolution_elapsed_s", "resolution_business_s")
FRT_BUCKETS = (15, 30, 60, 120, 240, 480, 1440, 2880)  # upper edges in minutes; the last bucket is open
KINDS = tuple(dict.fromkeys(ESCALATION_KINDS.values()))  # automatic, functional, hierarchical, manual
OTHER_CLOCKS = [c.value for c in ClockName if c not in (ClockName.FIRST_RESPONSE, ClockName.RESOLUTION)]
# The period's tickets, narrowed to what the report reads, in a temporary table: every aggregate
# then scans a few megabytes in memory instead of the wide tickets table (3x faster on SQLite).
PERIOD_COLUMNS = ["ticket_id", "opened_at", "severity", "plan", "customer", "status", "first_response_seq", "resolution_seq",
                  "first_response_paused_s", "resolution_paused_s", "auto_solved", "csat_score", "reopens", *MEASURES,
                  *[f"{kind}_{c.value}" for c in ClockName for kind in ("breaches", "withdrawn")],
                  *[f"escalations_{k}" for k in KINDS]]
period = Table("report_period", MetaData(), *[Column(name, tickets.c[name].type) for name in PERIOD_COLUMNS],
               Column("month", String(7)), Column("week", String(10)), prefixes=["TEMPORARY"])
t = period.c


@contextmanager
def period_rows(conn: Connection, start: datetime, end: datetime) -> Iterator[None]:
    """Fill the temporary table with the tickets opened in [start, end) for the queries below; it
    is dropped afterwards (a pooled connection keeps its temporary tables)."""
    conn.execute(DropTable(period, if_exists=True))
    conn.execute(CreateTable(period))
    source = select(*[tickets.c[name] for name in PERIOD_COLUMNS], *_month_and_week(conn.dialect.name, tickets.c.opened_at)).where(
        tickets.c.opened_at >= start, tickets.c.opened_at < end)
    conn.execute(insert(period).from_select([*PERIOD_COLUMNS, "month", "week"], source))
    try:
        yield
    finally:
        conn.execute(DropTable(period, if_exists=True))


def _month_and_week(dialect: str, opened_at) -> tuple:
    """The month ('YYYY-MM') and week (its Monday, 'YYYY-MM-DD') of an instant, in UTC."""
    if dialect == "sqlite":  # instants are stored as UTC text
        return func.strftime("%Y-%m", opened_at), func.date(opened_at, "weekday 0", "-6 days")
    utc = func.timezone("UTC", opened_at)
    return func.to_char(utc, "YYYY-MM"), func.to_char(func.date_trunc("week", utc), "YYYY-MM-DD")


def group_expressions(by: tuple[str, ...]) -> list:
    """The column of each grouping, labelled by its name (month and week are worked out once, as
    the period's rows are copied)."""
    return [(func.coalesce(t.plan, "(none)") if name == "plan" else t[name]).label(name) for name in by]


def _net_breach(clock: str):
    return t[f"breaches_{clock}"] - t[f"withdrawn_{clock}"] > 0


def _count(condition):
    return func.sum(case((condition, 1), else_=0))


def _totals(groups: list) -> select:
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
        *[func.sum(t[f"escalations_{k}"]).label(f"escalations_{k}") for k in KINDS],
    ]
    stmt = select(*groups, *columns)
    return stmt.group_by(*groups) if groups else stmt


def _post_incident(groups: list, as_of: datetime) -> select:
    p = post_incident_items.c
    owed = and_(p.waived.is_(False), or_(p.done_at.is_not(None), p.due <= as_of))  # due by the as-of, or done
    on_time = and_(p.waived.is_(False), p.done_at.is_not(None), p.done_at <= p.due)
    columns = [_count(and_(p.kind == kind, cond)).label(f"{kind}_{what}")
               for kind in ("review", "rca") for what, cond in (("due", owed), ("on_time", on_time))]
    stmt = select(*groups, *columns).select_from(post_incident_items.join(period, t.ticket_id == p.ticket_id))
    return stmt.group_by(*groups) if groups else stmt


def _percentile_rows(conn: Connection, groups: list, measures: tuple[str, ...] = MEASURES) -> dict[str, dict[tuple, dict[int, tuple[float, float, float]]]]:
    """Per measure, per group key: {percent: (lower value, higher value, fraction)}. One statement
    for every measure: each is numbered within its group (nulls last, so the values of a measure
    are rows 1..count), and only the rows a percentile lies between come back."""
    names = [g.name for g in groups]
    partition = [g.element for g in groups] or None
    columns = []
    for i, m in enumerate(measures):
        order = t[m].asc().nulls_last()  # SQLite 3.30+ and PostgreSQL: the values are rows 1..count
        columns += [t[m].label(f"v{i}"), func.row_number().over(partition_by=partition, order_by=order).label(f"rn{i}"),
                    func.count(t[m]).over(partition_by=partition).label(f"n{i}")]
    inner = select(*groups, *columns).subquery()
    wanted = []
    for i in range(len(measures)):
        rn, n = inner.c[f"rn{i}"], inner.c[f"n{i}"]
        for p in rm.PERCENTS:
            wanted += [and_(n > 0, rn == (n - 1) * p // 100 + 1), and_(n > 0, rn == ((n - 1) * p + 99) // 100 + 1)]
    rows = conn.execute(select(*[inner.c[n] for n in names], *[inner.c[c.name] for c in columns]).where(or_(*wanted))).all()
    out: dict[str, dict[tuple, dict[int, tuple[float, float, float]]]] = {m: {} for m in MEASURES}
    for i, measure in enumerate(measures):
        values: dict[tuple, dict[int, float]] = {}
        counts: dict[tuple, int] = {}
        for row in rows:
            m = row._mapping
            if m[f"n{i}"] and m[f"v{i}"] is not None:
                key = tuple(str(row[j]) for j in range(len(names)))
                values.setdefault(key, {})[m[f"rn{i}"]] = float(m[f"v{i}"])
                counts[key] = m[f"n{i}"]
        picked: dict[tuple, dict[int, tuple[float, float, float]]] = {}
        for key, by_rank in values.items():
            for p in rm.PERCENTS:
                low, high, fraction = rm.percentile_rows(counts[key], p)
                if low in by_rank and high in by_rank:
                    picked.setdefault(key, {})[p] = (by_rank[low], by_rank[high], fraction)
        out[measure] = picked
    return out


def aggregate(conn: Connection, by: tuple[str, ...], as_of: datetime, percentiles: tuple[str, ...] = MEASURES) -> list[rm.GroupMetrics]:
    """One GroupMetrics per group of the period's tickets (inside `period_rows`), ordered by the
    group key (one group, key {}, when `by` is empty); the medians and p90s of the measures in
    `percentiles` only (each costs a sort: the charts draw means and rates, the goals one median)."""
    groups = group_expressions(by)
    names = [g.name for g in groups]

    def key_of(row) -> tuple:
        return tuple(str(row[i]) for i in range(len(names)))

    totals = {key_of(r): r for r in conn.execute(_totals(groups)).all()}
    post = {key_of(r): r for r in conn.execute(_post_incident(groups, as_of)).all()}
    picks = _percentile_rows(conn, groups, percentiles) if percentiles else {m: {} for m in MEASURES}
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
            escalations={k: int(r._mapping[f"escalations_{k}"] or 0) for k in KINDS},
            # SUM over no rows is NULL: a group without post-incident items owes none.
            reviews_due=(pi and pi.review_due) or 0, reviews_on_time=(pi and pi.review_on_time) or 0,
            rcas_due=(pi and pi.rca_due) or 0, rcas_on_time=(pi and pi.rca_on_time) or 0,
        ))
    return out


def frt_histogram(conn: Connection) -> dict[str, list[int]]:
    """Per severity: how many first responses fell in each bucket of FRT_BUCKETS (minutes) as the
    clock counted them (business time of the target's calendar, as the target is written), the
    last count being those over the last edge. Tickets answered before measures were recorded
    are not in it (their business time is unknown)."""
    minutes = t.first_response_business_s / literal(60.0)
    bucket = case(*[(minutes < edge, i) for i, edge in enumerate(FRT_BUCKETS)], else_=len(FRT_BUCKETS)).label("bucket")
    rows = conn.execute(select(t.severity, bucket, func.count()).where(t.first_response_business_s.is_not(None))
                        .group_by(t.severity, bucket)).all()
    out: dict[str, list[int]] = {}
    for severity, index, n in rows:
        out.setdefault(severity, [0] * (len(FRT_BUCKETS) + 1))[int(index)] = n
    return out
