"""The metrics teams are judged by, defined once: `escalator report` and the scheduled reviews
compute them from the store's aggregates with these functions (docs/reports.md gives each formula).

The store adds up one row per ticket (its facts, sla/ticket_facts.py) with SQL; what is left to
Python is per group and small: interpolating a percentile between the two rows SQL picked, and
dividing counts. Rates are None when nothing was counted (0 of 0 is no rate, not 0 %).
"""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel

PERCENTS = (50, 90)
"""The percentiles reported: the median and p90."""

SATISFIED = frozenset({"4", "5", "good"})
RATED = frozenset({"1", "2", "3", "4", "5", "good", "bad"})


def percentile_rows(n: int, percent: int) -> tuple[int, int, float]:
    """The two 1-based row numbers (in ascending order of the values) a percentile lies between,
    and how far between them: rank h = (n - 1) * p / 100, rows floor(h) + 1 and ceil(h) + 1,
    fraction h - floor(h). This is linear interpolation between closest ranks (Hyndman & Fan's
    type 7: PostgreSQL's percentile_cont, NumPy's default). ValueError when n < 1."""
    if n < 1:
        raise ValueError("a percentile of no values")
    scaled = (n - 1) * percent
    low = scaled // 100
    high = -(-scaled // 100)
    return low + 1, high + 1, (scaled - low * 100) / 100


def interpolate(low_value: float, high_value: float, fraction: float) -> float:
    """The value `fraction` of the way from the lower row's value to the higher's."""
    return low_value + (high_value - low_value) * fraction


def percentile(values: Sequence[float], percent: int) -> float | None:
    """The percentile of `values` (any order) by the rule of `percentile_rows`; None when empty.
    The store's SQL picks the same two rows; this is the reference the tests hold it to."""
    if not values:
        return None
    ordered = sorted(values)
    low, high, fraction = percentile_rows(len(ordered), percent)
    return interpolate(ordered[low - 1], ordered[high - 1], fraction)


def rate(part: int | None, whole: int | None) -> float | None:
    """part / whole as a fraction (0..1); None when whole is 0 or unknown."""
    return None if not whole else (part or 0) / whole


def mean(total: float | None, count: int | None) -> float | None:
    return None if not count or total is None else total / count


def satisfied(score: str | None) -> bool | None:
    """CSAT: 4 or 5 of 5, and `good`, are satisfied; 1-3 and `bad` are not; None when unrated."""
    if score is None or score not in RATED:
        return None
    return score in SATISFIED


def clock_outcome(breaches: int, withdrawn: int, met: bool, finished: bool) -> str:
    """How a ticket's clock ended up: `breached` when a breach stands (a withdrawn breach, one a
    late message showed was never owed, counts as met), else `met` when the clock was met or the
    ticket is finished, else `running`."""
    if breaches - withdrawn > 0:
        return "breached"
    return "met" if met or finished else "running"


class Distribution(BaseModel):
    """Median, p90 and mean of a duration in seconds, over `count` tickets (None: no tickets)."""

    count: int = 0
    median: float | None = None
    p90: float | None = None
    mean: float | None = None


class ClockOutcomes(BaseModel):
    """Tickets whose clock was met, breached or is still running; `breach_rate` = breached / (met + breached)."""

    met: int = 0
    breached: int = 0
    running: int = 0

    @property
    def breach_rate(self) -> float | None:
        return rate(self.breached, self.met + self.breached)


class GroupMetrics(BaseModel):
    """Every metric of one group of tickets (a month, a severity, a customer, ... or all of them).

    Durations in seconds: elapsed (wall clock from the opening) and business (the time the
    ticket's own clock counted on its calendar, pauses left out); `*_paused` is the mean time
    the clock stood paused. Rates are fractions 0..1, None when nothing was counted."""

    key: dict[str, str]
    tickets: int
    first_response: Distribution
    first_response_business: Distribution
    first_response_paused_mean: float | None = None
    first_response_unmeasured: int = 0
    resolution: Distribution
    resolution_business: Distribution
    resolution_paused_mean: float | None = None
    resolution_unmeasured: int = 0
    first_response_clock: ClockOutcomes
    resolution_clock: ClockOutcomes
    other_breaches: dict[str, int] = {}
    rated: int = 0
    satisfied: int = 0
    solved: int = 0
    reopened: int = 0
    auto_solved: int = 0
    escalations: dict[str, int] = {}
    reviews_due: int = 0
    reviews_on_time: int = 0
    rcas_due: int = 0
    rcas_on_time: int = 0

    @property
    def csat(self) -> float | None:
        """Satisfied / rated."""
        return rate(self.satisfied, self.rated)

    @property
    def reopen_rate(self) -> float | None:
        """Tickets reopened at least once / tickets solved at least once."""
        return rate(self.reopened, self.solved)

    @property
    def auto_solved_share(self) -> float | None:
        """Tickets whose last solve was automatic / tickets solved."""
        return rate(self.auto_solved, self.solved)

    def escalations_per_ticket(self, kind: str) -> float | None:
        return rate(self.escalations.get(kind, 0), self.tickets)

    @property
    def review_on_time_rate(self) -> float | None:
        """Reviews held by their due instant / reviews due by the report's as-of (waived ones left out)."""
        return rate(self.reviews_on_time, self.reviews_due)

    @property
    def rca_on_time_rate(self) -> float | None:
        return rate(self.rcas_on_time, self.rcas_due)


def distribution(count: int, total: float | None, picks: dict[int, tuple[float, float, float]]) -> Distribution:
    """A Distribution from SQL's count and sum and, per percent, (lower row's value, higher
    row's value, fraction) as `percentile_rows` chose them."""
    found = {p: interpolate(*picks[p]) for p in PERCENTS if p in picks}
    return Distribution(count=count, median=found.get(50), p90=found.get(90), mean=mean(total, count))
