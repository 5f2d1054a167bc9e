"""`escalator report`: the figures teams are judged by, over the ticket store (docs/reports.md).

Tickets opened in the period (default: the last full month, UTC) are grouped `--by` month, week,
severity, plan and/or customer; each group's first response and resolution times, breach rates,
CSAT, reopen and auto-solve rates, escalations and post-incident on-time rates are computed by
SQL (reports/queries.py) and judged against the policy's `[goals]`.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from datetime import UTC, datetime, time
from pathlib import Path

from sqlalchemy.exc import SQLAlchemyError

from reports.queries import GROUPINGS
from reports.render import as_csv, as_json, as_table
from reports.report import build, last_full_month
from starter.periods import parse_instant
from starter.policy_commands import CommandError, read_policy
from store.ticket_store import StoreConfigError, open_current, printable


class ReportError(Exception):
    """The report cannot be made (bad input, no store, an old schema): one line."""


def add_report_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--from", dest="opened_from", metavar="DATE", help="tickets opened on or after DATE (YYYY-MM-DD, UTC) or an ISO instant (default: the first day of last month)")
    p.add_argument("--to", dest="opened_to", metavar="DATE", help="tickets opened up to DATE inclusive (YYYY-MM-DD, UTC) or before an ISO instant (default: the last day of last month)")
    p.add_argument("--by", action="append", default=[], metavar="GROUPING",
                   help=f"group by {', '.join(GROUPINGS)}; repeat or comma-separate to combine (--by month,severity)")
    p.add_argument("--policy", default=os.environ.get("ESCALATOR_POLICY"), metavar="FILE",
                   help="the policy whose [goals] and targets the report uses (env ESCALATOR_POLICY; default: the bundled one)")
    p.add_argument("--as-of", metavar="ISO", help="post-incident items count as owed once due by this instant (default: now)")
    out = p.add_mutually_exclusive_group()
    out.add_argument("--csv", action="store_true", help="one CSV row per group on stdout (seconds and fractions)")
    out.add_argument("--html", metavar="FILE", help="write one self-contained HTML page with charts to FILE (nothing fetched when opened)")


def _groupings(values: list[str]) -> tuple[str, ...]:
    out: list[str] = []
    for value in values:
        if not value.replace(",", "").strip():
            raise ReportError(f"--by: {value!r} names no grouping (use {', '.join(GROUPINGS)})")
        for name in filter(None, (v.strip().lower() for v in value.split(","))):
            if name not in GROUPINGS:
                raise ReportError(f"--by: {name!r} is not a grouping (use {', '.join(GROUPINGS)})")
            if name in out:
                raise ReportError(f"--by: {name} is given twice")
            out.append(name)
    return tuple(out)


def _html_target(value: str) -> Path:
    """Where --html may write: an .html file in an existing directory, never over anything but a file."""
    target = Path(value)
    if not value.strip() or target.suffix.lower() not in (".html", ".htm"):
        raise ReportError(f"--html: {value!r} is not an .html file name (e.g. --html october.html)")
    if not target.parent.is_dir():
        raise ReportError(f"--html: {value} is not a file in an existing directory")
    if target.exists() and not target.is_file():
        raise ReportError(f"--html: {value} exists and is not a file: nothing written")
    return target


def run_report(args: argparse.Namespace):
    """(the Report, what to print on stdout); ReportError on bad input or an unreadable store."""
    if args.json and (args.csv or args.html is not None):
        raise ReportError(f"--json prints one JSON document: not with {'--csv' if args.csv else '--html'}")
    by = _groupings(args.by)
    try:
        if args.opened_from or args.opened_to:
            if not (args.opened_from and args.opened_to):
                raise ReportError("--from and --to go together (without both: the last full month)")
            start = parse_instant(args.opened_from, "--from")
            end = parse_instant(args.opened_to, "--to", end_of_day=True)
        else:
            first, last = last_full_month(datetime.now(UTC).date())
            start, end = (datetime.combine(d, time(0), tzinfo=UTC) for d in (first, last))
        as_of = parse_instant(args.as_of, "--as-of") if args.as_of else None
    except ValueError as exc:
        raise ReportError(str(exc)) from None
    if end <= start:
        raise ReportError("--to: the period is empty (--to must be after --from; a date --to includes that day)")
    try:
        policy, _, _ = read_policy(args.policy)
    except CommandError as exc:
        raise ReportError(f"--policy: {exc}") from None
    target = _html_target(args.html) if args.html is not None else None
    try:
        store = open_current(args.database_url)
    except StoreConfigError as exc:
        raise ReportError(str(exc)) from None
    except (SQLAlchemyError, OSError) as exc:
        raise ReportError(f"cannot read the ticket store at {printable(args.database_url)}: {_reason(exc)}") from None
    try:
        report = build(store.engine, policy, start, end, by, as_of=as_of, charts=target is not None)
    except SQLAlchemyError as exc:
        raise ReportError(f"cannot read the ticket store at {printable(args.database_url)}: {_reason(exc)}") from None
    finally:
        store.close()
    if target is not None:
        from reports import html as html_report  # matplotlib: imported only for the page (about 0.5 s)

        page = html_report.render(report)
        try:
            _write_new(target, page)
        except OSError as exc:
            raise ReportError(f"--html: cannot write {target}: {exc.strerror or exc}") from None
        return report, f"wrote {target} ({len(page.encode()) // 1024} KiB, {report.overall.tickets} tickets, {len(report.misses)} goal(s) missed)\n"
    if args.json:
        return report, as_json(report) + "\n"
    # The table names the store it read: without --database-url it is the last `escalator dev`'s.
    return report, as_csv(report) if args.csv else f"Ticket store: {printable(args.database_url)}\n" + as_table(report)


def _write_new(target: Path, text: str) -> None:
    """Write `text` to a new file of its own beside `target` (created exclusively, under a name
    nobody chose), then rename it over `target`: never a half-written page under the asked name,
    and never through a link or a device someone left there."""
    fd, temporary = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".partial", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
        os.chmod(temporary, 0o644)
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _reason(exc: BaseException) -> str:
    """The driver's own words, one line, without SQLAlchemy's background link."""
    inner = getattr(exc, "orig", None) or exc
    return " ".join(str(inner).split())[:300] or type(inner).__name__


def main_report(args: argparse.Namespace) -> int:
    try:
        _, text = run_report(args)
    except ReportError as exc:
        print(f"escalator: error: {exc}", file=sys.stderr)
        return 2
    sys.stdout.write(text)
    return 0
