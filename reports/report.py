"""One report over a period: the groups asked for, the whole period, the goals, and the chart data.

`build` runs the aggregates of reports/queries.py in one read transaction and returns a `Report`
that every renderer (table, CSV, JSON, HTML) and the scheduled reviews work from.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from pydantic import BaseModel
from sqlalchemy import Engine

from reports import queries
from sla.goals import GoalResult, evaluate
from sla.policy import Policy
from sla.report_metrics import ClockOutcomes, Distribution, GroupMetrics
from sla.severity import Severity
from sla.ticket import ClockName


GOAL_MEDIANS = ("first_response_elapsed_s",)


class Report(BaseModel):
    """A report: `groups` by the groupings asked for, `overall` for the period, `goals` judged on it,
    `weekly` (week x severity) and `frt_histogram` for the charts, `frt_targets` per severity (seconds)."""

    start: datetime
    end: datetime
    as_of: datetime
    zone: str = "UTC"  # the zone whose days the period is (a review's schedule's): how it is named
    by: list[str]
    policy: str
    groups: list[GroupMetrics]
    overall: GroupMetrics
    goals: list[GoalResult]
    weekly: list[GroupMetrics] = []
    frt_histogram: dict[str, list[int]] = {}
    frt_targets: dict[str, int] = {}
    frt_target_labels: dict[str, str] = {}
    goal_targets: dict[str, float] = {}

    @property
    def misses(self) -> list[GoalResult]:
        return [g for g in self.goals if g.met is False]

    @property
    def period(self) -> str:
        """The period as people read it: '2026-10-01 to 2026-10-31' (both days included) when it
        runs from midnight to midnight UTC, else its two instants."""
        zone = ZoneInfo(self.zone)
        start, end = self.start.astimezone(zone), self.end.astimezone(zone)
        where = "" if self.zone == "UTC" else f" ({self.zone})"
        if start.time() == end.time() == time(0):
            return f"{start:%Y-%m-%d} to {end - timedelta(days=1):%Y-%m-%d}{where}"
        return f"{start:%Y-%m-%d %H:%M:%S} to {end:%Y-%m-%d %H:%M:%S} {self.zone}, end excluded"


def last_full_month(today: date) -> tuple[date, date]:
    """[first day of last month, first day of this month): the default period."""
    first = today.replace(day=1)
    return (first - timedelta(days=1)).replace(day=1), first


def _empty() -> GroupMetrics:
    """The figures of a period without tickets."""
    return GroupMetrics(key={}, tickets=0, first_response=Distribution(), first_response_business=Distribution(),
                        resolution=Distribution(), resolution_business=Distribution(),
                        first_response_clock=ClockOutcomes(), resolution_clock=ClockOutcomes())


def build(engine: Engine, policy: Policy, start: datetime, end: datetime, by: tuple[str, ...] = (),
          as_of: datetime | None = None, charts: bool = False, zone: str = "UTC") -> Report:
    """The report of the tickets opened in [start, end) (UTC instants). Post-incident items count
    as owed once due by `as_of` (default: now, but not after `end` + 1 year). `charts` adds the
    week x severity groups and the FRT histogram. SQLAlchemyError when the store cannot be read."""
    # SQLite keeps instants as UTC text and compares them as text: every bound goes in as UTC.
    start, end = start.astimezone(UTC), end.astimezone(UTC)
    as_of = as_of.astimezone(UTC) if as_of is not None else None
    unknown = [b for b in by if b not in queries.GROUPINGS]
    if unknown:
        raise ValueError(f"--by: {', '.join(unknown)} is not a grouping (use {', '.join(queries.GROUPINGS)})")
    as_of = as_of or datetime.now(UTC)
    with engine.connect() as conn, conn.begin(), queries.period_rows(conn, start, end):
        groups = queries.aggregate(conn, tuple(by), as_of) if by else []
        overall = (queries.aggregate(conn, (), as_of) or [_empty()])[0]
        # The goals need one median per severity; the charts, means and rates per week and severity.
        severity_groups = groups if tuple(by) == ("severity",) else queries.aggregate(conn, ("severity",), as_of, GOAL_MEDIANS)
        weekly = (groups if tuple(by) == ("week", "severity") else queries.aggregate(conn, ("week", "severity"), as_of, ())) if charts else []
        histogram = queries.frt_histogram(conn) if charts else {}
    by_severity = {Severity(g.key["severity"]): g for g in severity_groups}
    targets, labels = {}, {}
    for severity, rules in policy.severities.items():
        rule = rules.targets.get(ClockName.FIRST_RESPONSE)
        if rule is not None:
            calendar = policy.calendar(rule.calendar or policy.default_calendar)
            targets[severity.value] = rule.within.seconds(calendar.business_day_seconds)
            labels[severity.value] = rule.within.short
    return Report(start=start, end=end, as_of=as_of, by=list(by), zone=zone, policy=f"{policy.name} {policy.version}",
                  groups=groups if by else [overall], overall=overall, goals=evaluate(policy.goals, overall, by_severity),
                  weekly=weekly, frt_histogram=histogram, frt_targets=targets, frt_target_labels=labels,
                  goal_targets=_goal_targets(policy))


def _goal_targets(policy: Policy) -> dict[str, float]:
    """The goals the charts draw as lines: Sev-1 MTTR in hours, CSAT and reopen percents."""
    goals = policy.goals
    out: dict[str, float] = {}
    if Severity.SEV1 in goals.time_to_resolve_mean:
        out["mttr_sev1_hours"] = goals.time_to_resolve_mean[Severity.SEV1].seconds(0) / 3600
    if goals.csat_min_percent is not None:
        out["csat_percent"] = goals.csat_min_percent
    if goals.reopen_max_percent is not None:
        out["reopen_percent"] = goals.reopen_max_percent
    return out
