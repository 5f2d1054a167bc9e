"""Goals a support team sets itself, from the policy's `[goals]` table, and how a report meets them.

The defaults are the figures of the support guides this product serves: first response under
2 hours for Sev-1 (median, elapsed), MTTR under 8 hours for Sev-1 (mean time to resolve,
elapsed), CSAT at least 90 %, reopen rate under 5 %.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator

from sla.durations import Duration
from sla.report_metrics import GroupMetrics
from sla.severity import Severity


class Goals(BaseModel):
    """The `[goals]` table of a policy; every key optional (an empty table keeps no goals but the rates)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    first_response_median: dict[Severity, Duration] = Field(
        default_factory=lambda: {Severity.SEV1: Duration(amount=2, unit="hours")},
        description="Per severity: the median first response time (elapsed) must be under this.")
    time_to_resolve_mean: dict[Severity, Duration] = Field(
        default_factory=lambda: {Severity.SEV1: Duration(amount=8, unit="hours")},
        description="Per severity: MTTR, the mean time to resolve (elapsed), must be under this.")
    # strict: a number, not "90" nor true (TOML has real numbers; a string is a mistake to point at)
    csat_min_percent: Annotated[float, Field(ge=0, le=100, strict=True)] | None = 90
    reopen_max_percent: Annotated[float, Field(ge=0, le=100, strict=True)] | None = 5

    @field_validator("csat_min_percent", "reopen_max_percent", mode="before")
    @classmethod
    def _a_number(cls, value):
        if isinstance(value, bool):  # TOML's true/false would pass as 1/0
            raise ValueError("a percent is a number from 0 to 100 (0 for CSAT, or 100 for reopens, is always met)")
        return value

    @field_validator("first_response_median", "time_to_resolve_mean")
    @classmethod
    def _elapsed_only(cls, value: dict[Severity, Duration]) -> dict[Severity, Duration]:
        for duration in value.values():
            if duration.business:
                raise ValueError(f"goals are wall-clock (elapsed) time: write e.g. '2h', not {str(duration)!r}")
            if duration.seconds(0) > 366 * 86400:
                raise ValueError(f"{str(duration)!r} is longer than a year: not a goal a report can hold a period to")
        return value


class GoalResult(BaseModel):
    """One goal against one report: `met` None when there was nothing to measure."""

    goal: str
    target: str
    actual: float | None
    unit: str  # "s" or "%"
    met: bool | None


def _elapsed_seconds(duration: Duration) -> int:
    return duration.seconds(0)  # never business time: the validator refuses it


def evaluate(goals: Goals, overall: GroupMetrics, by_severity: dict[Severity, GroupMetrics]) -> list[GoalResult]:
    """Each goal against the period: per-severity goals against that severity's group (met None
    when it had no tickets with the figure), the rates against all tickets of the period."""
    results: list[GoalResult] = []
    for severity, limit in sorted(goals.first_response_median.items()):
        group = by_severity.get(severity)
        actual = group.first_response.median if group else None
        results.append(GoalResult(goal=f"{severity.label} first response (median)", target=f"under {limit.short}", actual=actual,
                                  unit="s", met=None if actual is None else actual < _elapsed_seconds(limit)))
    for severity, limit in sorted(goals.time_to_resolve_mean.items()):
        group = by_severity.get(severity)
        actual = group.resolution.mean if group else None
        results.append(GoalResult(goal=f"{severity.label} MTTR (mean time to resolve)", target=f"under {limit.short}", actual=actual,
                                  unit="s", met=None if actual is None else actual < _elapsed_seconds(limit)))
    if goals.csat_min_percent is not None:
        csat = overall.csat
        results.append(GoalResult(goal="CSAT (satisfied of rated)", target=f"at least {goals.csat_min_percent:g} %",
                                  actual=None if csat is None else csat * 100, unit="%",
                                  met=None if csat is None else csat * 100 >= goals.csat_min_percent))
    if goals.reopen_max_percent is not None:
        reopen = overall.reopen_rate
        results.append(GoalResult(goal="reopen rate", target=f"under {goals.reopen_max_percent:g} %",
                                  actual=None if reopen is None else reopen * 100, unit="%",
                                  met=None if reopen is None else reopen * 100 < goals.reopen_max_percent))
    return results
