"""The SLA policy: calendars, clocks, targets by severity, plan and category, and roles.

Policies are written in TOML (see docs/policy.md). A ticket runs under a *snapshot* of the
policy taken once when it opens, with country holidays resolved into explicit dates.
"""

from __future__ import annotations

import hashlib
import tomllib
from datetime import date, datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError, model_validator

from sla.calendar import ALWAYS, ALWAYS_OPEN, BusinessCalendar
from sla.durations import Duration, Delay
from sla.goals import Goals
from sla.severity import Severity
from sla.ticket import ClockName, TicketStatus

Name = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,63}$")]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TargetRule(_Strict):
    """A clock's target: how long, counted on which calendar."""

    within: Duration
    calendar: str | None = Field(default=None, description="Calendar name; the policy's default_calendar if omitted.")


class ClockRules(_Strict):
    """Per-clock behaviour shared by every target of that clock."""

    pauses_on: list[TicketStatus] = Field(default_factory=list)
    warn_at: list[Annotated[int, Field(ge=1, le=99)]] | None = Field(
        default=None, description="Breach warnings at these percentages; the policy's warn_at if omitted."
    )


class SeverityRules(_Strict):
    label: str | None = None
    aliases: list[str] = Field(default_factory=list)
    targets: dict[ClockName, TargetRule] = Field(default_factory=dict)


class PlanRules(_Strict):
    """Targets of a customer plan: where plan and severity both set a clock, the earlier deadline wins."""

    label: str | None = None
    targets: dict[ClockName, TargetRule] = Field(default_factory=dict)


class CategoryRules(_Strict):
    """Targets of a ticket category: a category target replaces the severity's and the plan's."""

    label: str | None = None
    targets: dict[ClockName, TargetRule] = Field(default_factory=dict)


class RoleRules(_Strict):
    """A role escalations and notifications name; its contacts live in the contacts file."""

    label: str
    per_customer: bool = False


class LifecycleRules(_Strict):
    """Waiting-on-customer follow-ups, auto-solve, auto-close, and the workflow's history budget."""

    follow_up_every: Duration = Field(default=Duration.parse("48h"), description="Follow-up to the customer this often while waiting on them.")
    follow_ups_before_solve: int = Field(default=3, ge=0, le=20)
    auto_solve_after: Duration = Field(default=Duration.parse("7 days"), description="Solved this long after entering Waiting on Customer, at the latest.")
    close_after_solved: Duration = Field(default=Duration.parse("3 days"), description="A Solved ticket closes this long after solving unless the customer writes.")
    max_backdate: Duration = Field(default=Duration.parse("90 days"),
                                   description="A ticket's opened_at may lie at most this far in the past (older: refused).")
    continue_as_new_after_events: int = Field(
        default=2000, ge=100, le=40000,
        description="The ticket's workflow starts a fresh history (carrying its state) past this many events.",
    )

    @model_validator(mode="after")
    def _wall_clock(self) -> "LifecycleRules":
        for name in ("follow_up_every", "auto_solve_after", "close_after_solved", "max_backdate"):
            if getattr(self, name).business:
                raise ValueError(f"{name}: give a wall-clock duration such as '48h' or '3 days'")
        return self


NOTIFIED_KINDS = ("warning", "breach", "follow_up", "auto_solve")


class NotificationRules(_Strict):
    """Who is told of each kind of obligation, and how long a notification is tried.

    A notification is retried until it is delivered, no longer matters (the ticket closed, or a
    warning's breach went out), or `give_up_after` has passed since its first attempt; a role's
    fallback contacts are used once its primary contacts have not accepted for `fallback_after`
    (docs/notifications.md). Both are measured by the workflow, in workflow time.
    """

    warning: list[Name] = Field(default_factory=list)
    breach: list[Name] = Field(default_factory=list)
    follow_up: list[Name] = Field(default_factory=list)
    auto_solve: list[Name] = Field(default_factory=list)
    delivery_failed: list[Name] = Field(default_factory=list, description="Told (through any channel that works) when a notification is given up.")
    watchdog: list[Name] = Field(default_factory=list, description="Told by `escalator watchdog` when open tickets are overdue "
                                 "(no worker acting on them), once per outage, and when it is over.")
    fallback_after: Duration = Field(default_factory=lambda: Duration.parse("5m"))
    give_up_after: Duration = Field(default_factory=lambda: Duration.parse("24h"))

    @model_validator(mode="before")
    @classmethod
    def _known_keys(cls, value):
        if isinstance(value, dict):
            for key in value:
                if key not in cls.model_fields:
                    raise ValueError(f"{key}: not an obligation kind that notifies (use {', '.join(NOTIFIED_KINDS)}), "
                                     "nor delivery_failed, watchdog, fallback_after or give_up_after")
        return value

    @model_validator(mode="after")
    def _wall_clock(self) -> "NotificationRules":
        for name in ("fallback_after", "give_up_after"):
            if getattr(self, name).business:
                raise ValueError(f"{name}: give a wall-clock duration such as '5m' or '24h'")
        if self.fallback_after.seconds(0) >= self.give_up_after.seconds(0):
            raise ValueError("fallback_after: must be shorter than give_up_after")
        return self

    def get(self, kind: str, default: list[str] | None = None) -> list[str] | None:
        """The roles told of an obligation kind (`default` for a kind the table does not name)."""
        return list(getattr(self, kind)) if kind in NOTIFIED_KINDS or kind == "delivery_failed" else default

    def named_roles(self) -> list[tuple[str, list[str]]]:
        return [(kind, list(getattr(self, kind))) for kind in (*NOTIFIED_KINDS, "delivery_failed", "watchdog")]


class EscalationStep(_Strict):
    """One step of a severity's escalation matrix: who is told, when, and until what."""

    id: Name
    label: str
    after: Delay = Field(description="How long after the anchor the step fires (wall-clock or business time; '0m': at once).")
    anchor: str = Field(default="open", alias="from",
                        description="'open', the id of an earlier step, 'breach:<clock>', or '<clock>@<percent>%' (a share of the clock's target elapsed).")
    roles: list[Name] = Field(min_length=1)
    stop_on_ack: bool = Field(default=False, description="An acknowledgement of this step's page stops its repeats.")
    stop_on_ticket_ack: bool = Field(default=False, description="Someone taking the ticket (acknowledge) stops the step too.")
    skip_when_commander: bool = Field(default=False, description="Not fired once an incident commander is designated.")
    repeat_every: Duration | None = None
    repeat_limit: int = Field(default=0, ge=0, le=50, description="Extra firings after the first, until acknowledged.")
    plans: list[Name] = Field(default_factory=list, description="Only for tickets of these plans (all plans if empty).")
    ack_timeout: Duration | None = Field(
        default=None, description="Re-escalate when an acknowledgement of this step is not followed by action this long (wall-clock).",
    )
    ack_timeout_to: list[Name] = Field(default_factory=list, description="Roles told, besides the step's own, on such a re-escalation.")

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @model_validator(mode="after")
    def _repeats(self) -> "EscalationStep":
        if self.repeat_limit and self.repeat_every is None:
            raise ValueError("repeat_limit needs repeat_every")
        if self.ack_timeout is not None and self.ack_timeout.business:
            raise ValueError("ack_timeout: give a wall-clock duration such as '30m'")
        if self.ack_timeout_to and self.ack_timeout is None:
            raise ValueError("ack_timeout_to needs ack_timeout")
        return self


class TierRules(_Strict):
    """A support tier (L1, L2, L3) of functional escalation: who it is, and how soon it must pick up a handoff."""

    label: str
    role: Name = Field(description="The role that is this tier's queue; told of each handoff to it.")
    respond_within: dict[Severity, Duration] = Field(
        default_factory=dict, description="Per severity: the tier's own response target after a handoff (none if absent).",
    )


class ManagementRules(_Strict):
    """Hierarchical escalation: the management chain, lowest first; each escalation climbs one level."""

    chain: list[Name] = Field(default_factory=list)


class StatusUpdateRules(_Strict):
    """The stakeholder cadence (the status_update clock): who is reminded, and who hears when it slips."""

    remind: list[Name] = Field(default_factory=list, description="Roles reminded when an update is due.")
    escalate_after: Duration = Field(default=Duration.parse("15m"), description="Wall-clock: the beat is elapsed time (Sev-1 is 24x7).")
    escalate_to: list[Name] = Field(default_factory=list, description="Roles told when an update is still missing escalate_after later.")
    post_to: list[Name] = Field(default_factory=list, description="Roles each posted update goes to (the stakeholders' channel).")

    @model_validator(mode="after")
    def _wall_clock(self) -> "StatusUpdateRules":
        if self.escalate_after.business:
            raise ValueError("escalate_after: give a wall-clock duration such as '15m' (the status beat counts elapsed time)")
        return self


class PostIncidentRules(_Strict):
    """What a resolved incident still owes: a review, an RCA, and its corrective actions."""

    severities: list[Severity] = Field(default_factory=list, description="Severities whose resolution opens post-incident obligations.")
    review_within: Duration = Field(default=Duration.parse("72h"), description="Post-incident review due this long after resolution.")
    rca_within: Duration = Field(default=Duration.parse("7 business days"), description="RCA document due this long after resolution.")
    remind_before: list[Duration] = Field(default_factory=lambda: [Duration.parse("24h")], description="Reminders this long before each deadline (wall-clock).")
    remind: list[Name] = Field(default_factory=list, description="Roles reminded (the owner of an action is named in the message).")
    escalate_to: list[Name] = Field(default_factory=list, description="Roles told when a deadline is missed.")

    @model_validator(mode="after")
    def _wall_clock_leads(self) -> "PostIncidentRules":
        for i, lead in enumerate(self.remind_before):
            if lead.business:
                raise ValueError(f"remind_before.{i}: give a wall-clock lead such as '24h' (counted back from the deadline)")
        return self


class SupportHoursRules(_Strict):
    """`[support_hours]`: contracted support hours per plan and how conversations use them.

    Source: seeds/002 ("each plan includes annual support hours"; "opening of conversation: a
    minimum of 15 minutes will be deducted"; "incidents are not counted as support hours",
    classed Critical, Major or Minor). Details and formulas: docs/policy.md, "Support hours".
    """

    plans: dict[Name, Annotated[float, Field(ge=0, le=100_000)]] = Field(
        default_factory=dict, description="Hours per contract year, per plan; a plan not named here has none.")
    minimum: Duration = Field(default=Duration.parse("15m"), description="The least a solved conversation deducts (wall-clock).")
    incident_categories: list[Name] = Field(default_factory=lambda: ["technical_incident"],
                                            description="Tickets of these categories are incidents: never deducted.")
    incident_severities: list[Severity] = Field(
        default_factory=lambda: [Severity.SEV1, Severity.SEV2, Severity.SEV3],
        description="Without a category, tickets of these severities are incidents (Critical, Major, Minor).")
    thresholds: list[Annotated[int, Field(ge=1, le=100)]] = Field(
        default_factory=lambda: [80, 100], description="Percent of the year's hours used at which notify is told, once a year each.")
    notify: list[Name] = Field(default_factory=lambda: ["account_manager"], description="Roles told when a threshold is crossed.")
    year_starts: Annotated[str, StringConstraints(pattern=r"^(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$")] = Field(
        default="01-01", description="MM-DD: the contract year starts on this day, in the default calendar's zone.")

    @model_validator(mode="after")
    def _wall_clock_minimum(self) -> "SupportHoursRules":
        if self.minimum.business:
            raise ValueError("minimum: give a wall-clock duration such as '15m' (time spent, not business time)")
        month, day = (int(x) for x in self.year_starts.split("-"))
        try:
            date(2024, month, day)  # a leap year: 02-29 is a day (in other years the year starts March 1st)
        except ValueError:
            raise ValueError(f"year_starts: {self.year_starts!r} is not a day of the year (MM-DD)") from None
        return self


class Policy(_Strict):
    """A whole SLA policy, as loaded from TOML and validated."""

    name: str
    version: str
    default_calendar: str = "business"
    warn_at: list[Annotated[int, Field(ge=1, le=99)]] = Field(default_factory=lambda: [75])
    calendars: dict[Name, BusinessCalendar] = Field(default_factory=dict)
    clocks: dict[ClockName, ClockRules] = Field(default_factory=dict)
    severities: dict[Severity, SeverityRules]
    plans: dict[Name, PlanRules] = Field(default_factory=dict)
    categories: dict[Name, CategoryRules] = Field(default_factory=dict)
    roles: dict[Name, RoleRules] = Field(default_factory=dict)
    lifecycle: LifecycleRules = Field(default_factory=LifecycleRules)
    notifications: NotificationRules = Field(default_factory=NotificationRules)
    escalation: dict[Severity, list[EscalationStep]] = Field(default_factory=dict)
    status_updates: StatusUpdateRules = Field(default_factory=StatusUpdateRules)
    post_incident: PostIncidentRules = Field(default_factory=PostIncidentRules)
    goals: Goals = Field(default_factory=Goals, description="What `escalator report` holds the period to (sla/goals.py).")
    tiers: dict[Name, TierRules] = Field(default_factory=dict, description="Support tiers, lowest first (functional escalation).")
    management: ManagementRules = Field(default_factory=ManagementRules)
    # Without the table, no ledger is kept (as before it existed): no plans, nobody told.
    support_hours: SupportHoursRules = Field(default_factory=lambda: SupportHoursRules(notify=[], incident_categories=[]))

    @model_validator(mode="after")
    def _consistent(self) -> "Policy":
        # Every inconsistency of the file at once, not the first one: one line each.
        problems: list[str] = []
        missing = [s.value for s in Severity if s not in self.severities]
        if missing:
            problems.append(f"severities: every severity needs a table; missing {', '.join(missing)}")
        for sev, rules in self.severities.items():
            for clock in (ClockName.FIRST_RESPONSE, ClockName.RESOLUTION):
                if clock not in rules.targets:
                    problems.append(f"severities.{sev.value}.targets: needs a {clock.value} target")
        known = set(self.calendars) | {ALWAYS_OPEN}
        if self.default_calendar not in known:
            problems.append(f"default_calendar: no calendar named {self.default_calendar!r} (have {', '.join(sorted(known))})")
        for where, rule in self._all_rules():
            if rule.calendar is not None and rule.calendar not in known:
                problems.append(f"{where}.calendar: no calendar named {rule.calendar!r} (have {', '.join(sorted(known))})")
        for kind, roles in self.notifications.named_roles():
            for role in roles:
                if role not in self.roles:
                    problems.append(f"notifications.{kind}: no role named {role!r} (have {', '.join(sorted(self.roles))})")
        for sev, steps in self.escalation.items():
            earlier: set[str] = set()
            for i, step in enumerate(steps):
                where = f"escalation.{sev.value}.{i}"
                if step.id in earlier:
                    problems.append(f"{where}.id: {step.id!r} is used twice")
                anchor_ok = step.anchor == "open" or step.anchor in earlier or (
                    step.anchor.startswith("breach:") and step.anchor[7:] in {c.value for c in ClockName}) or (
                    clock_percent(step.anchor) is not None)
                if not anchor_ok:
                    problems.append(f"{where}.from: {step.anchor!r} is not 'open', an earlier step's id, 'breach:<clock>' "
                                     "or '<clock>@<percent>%' (e.g. 'resolution@50%')")
                for role in step.roles:
                    if role not in self.roles:
                        problems.append(f"{where}.roles: no role named {role!r}")
                for plan in step.plans:
                    if plan not in self.plans:
                        problems.append(f"{where}.plans: no plan named {plan!r}")
                for role in step.ack_timeout_to:
                    if role not in self.roles:
                        problems.append(f"{where}.ack_timeout_to: no role named {role!r}")
                earlier.add(step.id)
        for name, tier in self.tiers.items():
            if tier.role not in self.roles:
                problems.append(f"tiers.{name}.role: no role named {tier.role!r}")
        for role in self.management.chain:
            if role not in self.roles:
                problems.append(f"management.chain: no role named {role!r}")
        for where, _ in self._all_rules():
            if where.endswith(f".{ClockName.TIER_RESPONSE.value}"):
                problems.append(f"{where}: the tier response target is set per tier (tiers.<tier>.respond_within)")
        for field in ("remind", "escalate_to"):
            for role in getattr(self.post_incident, field):
                if role not in self.roles:
                    problems.append(f"post_incident.{field}: no role named {role!r}")
        for field in ("remind", "escalate_to", "post_to"):
            for role in getattr(self.status_updates, field):
                if role not in self.roles:
                    problems.append(f"status_updates.{field}: no role named {role!r}")
        for plan in self.support_hours.plans:
            if plan not in self.plans:
                problems.append(f"support_hours.plans: no plan named {plan!r} (have {', '.join(sorted(self.plans)) or 'none'})")
        for category in self.support_hours.incident_categories:
            if category not in self.categories:
                problems.append(f"support_hours.incident_categories: no category named {category!r}")
        for role in self.support_hours.notify:
            if role not in self.roles:
                problems.append(f"support_hours.notify: no role named {role!r}")
        seen: dict[str, Severity] = {}
        for sev, rules in self.severities.items():
            for alias in rules.aliases:
                key = alias.strip().lower()
                if key in seen and seen[key] != sev:
                    problems.append(f"severities.{sev.value}.aliases: {alias!r} already names {seen[key].value}")
                seen[key] = sev
        if problems:
            raise ValueError("\n".join(problems))
        return self

    def _all_rules(self):
        for sev, s in self.severities.items():
            for clock, rule in s.targets.items():
                yield f"severities.{sev.value}.targets.{clock.value}", rule
        for name, p in self.plans.items():
            for clock, rule in p.targets.items():
                yield f"plans.{name}.targets.{clock.value}", rule
        for name, c in self.categories.items():
            for clock, rule in c.targets.items():
                yield f"categories.{name}.targets.{clock.value}", rule

    @property
    def aliases(self) -> dict[str, Severity]:
        return {a.strip().lower(): sev for sev, r in self.severities.items() for a in r.aliases}

    def calendar(self, name: str | None) -> BusinessCalendar:
        name = name or self.default_calendar
        if name in self.calendars:
            return self.calendars[name]
        if name == ALWAYS_OPEN:
            return ALWAYS
        raise KeyError(name)

    def clock_rules(self, clock: ClockName) -> ClockRules:
        return self.clocks.get(clock, ClockRules())

    def warnings_for(self, clock: ClockName) -> list[int]:
        rules = self.clock_rules(clock)
        return sorted(set(self.warn_at if rules.warn_at is None else rules.warn_at))

    def candidate_targets(
        self, clock: ClockName, severity: Severity, plan: str | None, category: str | None, tier: str | None = None,
    ) -> list[tuple[str, TargetRule]]:
        """The rules that could set a clock's target, each named; the planner keeps the earliest.

        A category target replaces all others; otherwise the severity's and the plan's compete.
        The tier response target comes from the tier the ticket was handed to.
        """
        if clock is ClockName.TIER_RESPONSE:
            within = self.tiers[tier].respond_within.get(severity) if tier in self.tiers else None
            if within is None:
                return []
            return [(f"tier {tier}", TargetRule(within=within, calendar=None if within.business else ALWAYS_OPEN))]
        if category and clock in self.categories.get(category, CategoryRules()).targets:
            return [(f"category {category}", self.categories[category].targets[clock])]
        found = []
        if clock in self.severities[severity].targets:
            found.append((f"severity {severity.value}", self.severities[severity].targets[clock]))
        if plan and clock in self.plans.get(plan, PlanRules()).targets:
            found.append((f"plan {plan}", self.plans[plan].targets[clock]))
        return found


def clock_percent(anchor: str) -> tuple[ClockName, int] | None:
    """'resolution@50%' -> (resolution, 50): a step anchored at a share of a clock's target; else None."""
    clock, sep, percent = anchor.partition("@")
    if not sep or not percent.endswith("%") or not percent[:-1].isdigit() or clock not in {c.value for c in ClockName}:
        return None
    value = int(percent[:-1])
    return (ClockName(clock), value) if 1 <= value <= 100 else None


class PolicyError(ValueError):
    """A policy file that cannot be used; the message names the file, the field and the reason."""


def _field_path(loc: tuple) -> str:
    return ".".join(str(part) for part in loc if not str(part).startswith(("function-", "str-", "constrained-")))


def parse_policy(text: str, source: str) -> Policy:
    """Parse and validate policy TOML; raise PolicyError naming `source`, field paths and reasons."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PolicyError(f"{source}: not valid TOML: {exc}") from None
    try:
        return Policy.model_validate(data)
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            path = _field_path(err["loc"])
            for reason in err["msg"].removeprefix("Value error, ").splitlines():
                lines.append(f"{source}: {path}: {reason}" if path else f"{source}: {reason}")
        raise PolicyError("\n".join(lines)) from None


class PolicySnapshot(BaseModel):
    """The policy a ticket runs under, fixed when it opened: holidays are explicit dates."""

    policy: Policy
    source: str
    digest: str = Field(description="sha256 of the policy file the snapshot was taken from.")
    holiday_years: tuple[int, int]

    @property
    def key(self) -> str:
        """Its id in the ticket store: the file's digest and the first year holidays were resolved for."""
        return f"{self.digest}:{self.holiday_years[0]}"


def digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def take_snapshot(policy: Policy, source: str, text_digest: str, opened_at: datetime, years: int = 3) -> PolicySnapshot:
    """Resolve each calendar's country holidays for `years` years from the opening year."""
    first = opened_at.year
    last = first + years - 1
    calendars = {
        name: _resolve_holidays(cal, range(first, last + 1)) for name, cal in policy.calendars.items()
    }
    resolved = policy.model_copy(update={"calendars": calendars})
    return PolicySnapshot(policy=resolved, source=source, digest=text_digest, holiday_years=(first, last))


def _resolve_holidays(calendar: BusinessCalendar, years: range) -> BusinessCalendar:
    if calendar.holiday_country is None:
        return calendar
    import holidays  # the data changes between package versions: read it once, at snapshot time

    found = holidays.country_holidays(
        calendar.holiday_country, subdiv=calendar.holiday_subdivision, years=list(years)
    )
    dates: set[date] = set(calendar.holidays) | set(found.keys())
    # Validated anew rather than model_copy'd: a copy would carry the cached holiday set.
    fields = calendar.model_dump()
    fields.update(holidays=sorted(dates), holiday_country=None, holiday_subdivision=None)
    return BusinessCalendar.model_validate(fields)
