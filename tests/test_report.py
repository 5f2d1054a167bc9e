"""`escalator report` on real SQLite and PostgreSQL: hand-built tickets written through the store's
own write path, every figure computed by hand in the comments; the command's outputs and errors;
the HTML page in headless Chromium."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from reports.report import build
from sla.messages import EventBatch, TicketEvent
from sla.ticket import TicketOpened
from store.schema import tickets
from store.ticket_store import TicketStore, upgrade

OCT = datetime(2026, 10, 1, tzinfo=UTC)
NOV = datetime(2026, 11, 1, tzinfo=UTC)
AS_OF = datetime(2026, 11, 30, tzinfo=UTC)
H = 3600


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.db'}"
    return request.getfixturevalue("postgres_url")


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def _ticket(tid: str, severity: str, opened: str, status: str, *events: tuple, plan: str | None = None) -> EventBatch:
    """A ticket's batch as the workflow writes it: (instant, kind, detail) after the opening."""
    opened_at = _at(opened)
    ticket = TicketOpened(ticket_id=tid, customer="ACME" if tid != "T8" else "GLOBEX", title=tid, severity=severity, opened_at=opened_at, plan=plan)
    rows = [(opened_at, "opened", {"severity": severity})] + [(_at(a), k, d) for a, k, d in events]
    return EventBatch(ticket=ticket, status=status, severity=severity, plan=plan, events=[
        TicketEvent(event_id=f"{tid}/{i}", seq=i, at=at, recorded_at=at, kind=k, detail=d) for i, (at, k, d) in enumerate(rows, 1)])


def measure(elapsed: int, business: int, paused: int = 0) -> dict:
    return {"calendar": "business", "elapsed_s": elapsed, "business_s": business, "paused_s": paused}


HAND_BUILT = [
    # T1 Sev-1: answered after 30 min, solved after 4h, rated 5 (satisfied).
    _ticket("T1", "sev1", "2026-10-05T10:00", "solved",
            ("2026-10-05T10:30", "responded", measure(1800, 1800)), ("2026-10-05T14:00", "resolved", measure(14400, 14400)),
            ("2026-10-05T15:00", "csat", {"score": "5"}), plan="enterprise"),
    # T2 Sev-2, paused: waited on the customer 11:00-13:00; solved after 6h elapsed, 4h business, 2h paused; rated good.
    _ticket("T2", "sev2", "2026-10-06T09:00", "closed",
            ("2026-10-06T10:00", "responded", measure(3600, 3600)),
            ("2026-10-06T11:00", "status_changed", {"status": "waiting_on_customer"}),
            ("2026-10-06T13:00", "customer_message", {"reopened": False}),
            ("2026-10-06T15:00", "resolved", measure(21600, 14400, 7200)), ("2026-10-06T16:00", "csat", {"score": "good"})),
    # T3 Sev-2, reopened: solved at 3h, rated 2, reopened at 5h (the rating is cleared), solved again at 7h:
    # elapsed 25200, business 18000, paused 7200 (the time it stood solved).
    _ticket("T3", "sev2", "2026-10-07T09:00", "solved",
            ("2026-10-07T09:20", "responded", measure(1200, 1200)), ("2026-10-07T12:00", "resolved", measure(10800, 10800)),
            ("2026-10-07T13:00", "csat", {"score": "2"}), ("2026-10-07T14:00", "customer_message", {"reopened": True}),
            ("2026-10-07T14:10", "responded", {}), ("2026-10-07T16:00", "resolved", measure(25200, 18000, 7200))),
    # T4 Sev-2, a withdrawn breach: the first response breach at 13:00 was withdrawn when the answer of 12:59
    # arrived late (counted met); solved after 8h; rated 3 (not satisfied).
    _ticket("T4", "sev2", "2026-10-08T09:00", "solved",
            ("2026-10-08T12:00", "warning", {"clock": "first_response"}),
            ("2026-10-08T13:00", "breach", {"clock": "first_response", "obligation": "T4/first_response/1/breach"}),
            ("2026-10-08T12:59", "responded", measure(14340, 14340)),
            ("2026-10-08T13:05", "withdrawn", {"clock": "first_response", "obligation": "T4/first_response/1/breach"}),
            ("2026-10-08T17:00", "resolved", measure(28800, 28800)), ("2026-10-08T18:00", "csat", {"score": "3"})),
    # T5 Sev-3, a standing first-response breach; answered 3 days later; still pending (resolution running).
    _ticket("T5", "sev3", "2026-10-09T14:00", "pending",
            ("2026-10-12T08:00", "breach", {"clock": "first_response", "obligation": "T5/first_response/1/breach"}),
            ("2026-10-12T14:00", "responded", measure(259200, 30600))),
    # T6 Sev-1, auto-solved after a day; 2 automatic escalations, a handoff, a management escalation;
    # review due 10-16 held 10-15 (on time), RCA due 10-22 recorded 10-25 (late).
    _ticket("T6", "sev1", "2026-10-12T08:00", "closed",
            ("2026-10-12T08:10", "responded", measure(600, 600)),
            ("2026-10-12T08:15", "escalation", {}), ("2026-10-12T08:30", "escalation", {}),
            ("2026-10-12T09:00", "handed_off", {}), ("2026-10-12T10:00", "management_escalation", {}),
            ("2026-10-13T08:00", "auto_solve", measure(86400, 86400)),
            ("2026-10-13T08:00", "post_incident_due", {"item": "review", "due": "2026-10-16T08:00:00+00:00"}),
            ("2026-10-13T08:00", "post_incident_due", {"item": "rca", "due": "2026-10-22T08:00:00+00:00"}),
            ("2026-10-15T08:00", "review_recorded", {}), ("2026-10-25T08:00", "rca_recorded", {})),
    # T7 Sev-4, opened in November: outside the period.
    _ticket("T7", "sev4", "2026-11-02T08:00", "open"),
    # T8 Sev-3, recorded before measures: first response 2h and solve 2 days after the opening, by elapsed time
    # only (business unknown); a standing resolution breach.
    _ticket("T8", "sev3", "2026-10-20T08:00", "closed",
            ("2026-10-20T10:00", "responded", {}),
            ("2026-10-21T08:00", "breach", {"clock": "resolution", "obligation": "T8/resolution/1/breach"}),
            ("2026-10-22T08:00", "resolved", {})),
]


@pytest.fixture
def hand_built(database_url: str) -> TicketStore:
    upgrade(database_url)
    store = TicketStore(database_url)
    store.record_batches(HAND_BUILT[:4])
    for batch in HAND_BUILT[4:]:
        store.record_batches([batch])
    store.record_batches(HAND_BUILT)  # written again (a retried activity): nothing is counted twice
    yield store
    store.close()


def test_every_metric_on_hand_built_tickets(hand_built: TicketStore, default_policy) -> None:
    report = build(hand_built.engine, default_policy, OCT, NOV, as_of=AS_OF)
    o = report.overall
    assert o.tickets == 7  # T1-T6 and T8; T7 opened in November
    # First response, elapsed: 600 1200 1800 3600 7200 14340 259200 -> median the 4th (3600);
    # p90 at rank 5.4: 14340 + 0.4 * (259200 - 14340) = 112284; mean 287940 / 7 = 41134.29.
    assert (o.first_response.count, o.first_response.median) == (7, 3600)
    assert o.first_response.p90 == pytest.approx(112284)
    assert o.first_response.mean == pytest.approx(287940 / 7)
    # Business (T8 has none): 600 1200 1800 3600 14340 30600 -> median (1800 + 3600) / 2 = 2700.
    assert (o.first_response_business.count, o.first_response_business.median) == (6, 2700)
    assert o.first_response_unmeasured == 1
    # Time to resolve, elapsed (the last solve): 14400 21600 25200 28800 86400 172800 (T8: 2 days) ->
    # median (25200 + 28800) / 2 = 27000; p90 at rank 4.5: (86400 + 172800) / 2 = 129600; mean 349200 / 6 = 58200.
    assert (o.resolution.count, o.resolution.median, o.resolution.p90, o.resolution.mean) == (6, 27000, 129600, 58200)
    # Business: 14400 14400 18000 28800 86400 -> median 18000. Paused: 0 7200 7200 0 0 -> mean 2880.
    assert (o.resolution_business.count, o.resolution_business.median) == (5, 18000)
    assert o.resolution_paused_mean == 2880 and o.resolution_unmeasured == 1
    # First response clock: T5's breach stands; T4's was withdrawn (met). 6 met, 1 breached -> 1/7.
    assert (o.first_response_clock.met, o.first_response_clock.breached, o.first_response_clock.running) == (6, 1, 0)
    assert o.first_response_clock.breach_rate == pytest.approx(1 / 7)
    # Resolution clock: T8 breached; T5 still running; the other 5 finished: met. 1/6.
    assert (o.resolution_clock.met, o.resolution_clock.breached, o.resolution_clock.running) == (5, 1, 1)
    # CSAT: T1 5 and T2 good satisfied, T4 3 not, T3's 2 cleared by the reopen -> 2 of 3 rated.
    assert (o.rated, o.satisfied) == (3, 2) and o.csat == pytest.approx(2 / 3)
    # Solved at least once: T1 T2 T3 T4 T6 T8 = 6; reopened T3 -> 1/6; auto-solved T6 -> 1/6.
    assert (o.solved, o.reopened, o.auto_solved) == (6, 1, 1)
    assert o.escalations == {"automatic": 2, "functional": 1, "hierarchical": 1, "manual": 0}
    assert o.escalations_per_ticket("automatic") == pytest.approx(2 / 7)
    # Post-incident: T6's review on time, its RCA late.
    assert (o.reviews_due, o.reviews_on_time, o.rcas_due, o.rcas_on_time) == (1, 1, 1, 0)
    # Goals: Sev-1 FRT median (1800 and 600 -> 1200 s) under 2h: met; Sev-1 MTTR (14400 + 86400) / 2 = 14h: missed;
    # CSAT 66.7 % < 90: missed; reopen 16.7 % >= 5: missed.
    assert {g.goal: g.met for g in report.goals} == {
        "Sev-1 first response (median)": True, "Sev-1 MTTR (mean time to resolve)": False,
        "CSAT (satisfied of rated)": False, "reopen rate": False}


def test_groups_combine(hand_built: TicketStore, default_policy) -> None:
    report = build(hand_built.engine, default_policy, OCT, NOV, ("week", "severity"), as_of=AS_OF)
    keys = [tuple(g.key.values()) for g in report.groups]
    # Weeks start on Monday: 10-05 (T1 sev1; T2, T3, T4 sev2; T5 sev3), 10-12 (T6), 10-19 (T8).
    assert keys == [("2026-10-05", "sev1"), ("2026-10-05", "sev2"), ("2026-10-05", "sev3"), ("2026-10-12", "sev1"), ("2026-10-19", "sev3")]
    sev2 = report.groups[1]
    # T2 3600, T3 1200, T4 14340 -> median 3600; mean 19140 / 3 = 6380.
    assert (sev2.tickets, sev2.first_response.median, sev2.first_response.mean) == (3, 3600, 6380)
    by_month_plan = build(hand_built.engine, default_policy, OCT, NOV, ("month", "plan", "customer"), as_of=AS_OF).groups
    assert [(g.key["month"], g.key["plan"], g.key["customer"], g.tickets) for g in by_month_plan] == [
        ("2026-10", "(none)", "ACME", 5), ("2026-10", "(none)", "GLOBEX", 1), ("2026-10", "enterprise", "ACME", 1)]


def test_facts_are_rebuilt_from_the_timeline(hand_built: TicketStore, default_policy) -> None:
    from store.facts import rebuild

    before = build(hand_built.engine, default_policy, OCT, NOV, ("severity",), as_of=AS_OF)
    with hand_built.engine.begin() as conn:
        conn.execute(tickets.update().values(reopens=99))  # damaged
    assert rebuild(hand_built.engine, hand_built._insert, progress=False) == 8
    assert build(hand_built.engine, default_policy, OCT, NOV, ("severity",), as_of=AS_OF) == before
    with hand_built.engine.connect() as conn:
        assert conn.execute(select(tickets.c.reopens).where(tickets.c.ticket_id == "T3")).scalar() == 1


def test_a_period_without_tickets_or_post_incident_items(hand_built: TicketStore, default_policy) -> None:
    empty = build(hand_built.engine, default_policy, datetime(2026, 9, 1, tzinfo=UTC), OCT, ("severity",), as_of=AS_OF)
    assert empty.groups == [] and empty.overall.tickets == 0 and {g.met for g in empty.goals} == {None}
    # November holds T7 only: no post-incident items, nothing answered.
    november = build(hand_built.engine, default_policy, NOV, datetime(2026, 12, 1, tzinfo=UTC), as_of=AS_OF).overall
    assert (november.tickets, november.reviews_due, november.first_response.median, november.csat) == (1, 0, None, None)
    assert (november.first_response_clock.running, november.resolution_clock.running) == (1, 1)


def escalator(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "starter", *args], capture_output=True, text=True, cwd=cwd, timeout=120,
                          env={**os.environ, "ESCALATOR_POLICY": ""})


def test_the_command_prints_a_table_csv_and_json(hand_built: TicketStore, database_url: str) -> None:
    period = ["--database-url", database_url, "--from", "2026-10-01", "--to", "2026-10-31", "--as-of", "2026-11-30T00:00:00+00:00"]
    done = escalator("report", *period, "--by", "severity")
    assert done.returncode == 0, done.stderr
    assert "sev2" in done.stdout and "Sev-1 MTTR (mean time to resolve)" in done.stdout and "MISSED" in done.stdout
    assert done.stdout.startswith("Ticket store: ")
    assert "2 clock(s) were met before business time was measured" in done.stdout
    rows = list(csv.DictReader(io.StringIO(escalator("report", *period, "--by", "severity", "--csv").stdout)))
    assert [r["severity"] for r in rows] == ["sev1", "sev2", "sev3"] and rows[1]["frt_median_s"] == "3600.0"
    doc = json.loads(escalator("report", *period, "--json").stdout)
    assert doc["overall"]["tickets"] == 7 and doc["overall"]["ttr_median_s"] == 27000
    assert [g["met"] for g in doc["goals"]] == [True, False, False, False]


@pytest.mark.parametrize("args, expected", [
    (["--by", "quarter"], "--by: 'quarter' is not a grouping (use month, week, severity, plan, customer)"),
    (["--by", "week,week"], "--by: week is given twice"),
    (["--from", "2026-10-01"], "--from and --to go together"),
    (["--from", "2026-10-01", "--to", "2026-13-01"], "--to: '2026-13-01' is not a date"),
    (["--from", "2026-10-05", "--to", "2026-10-01"], "--to: the period is empty"),
    (["--as-of", "2026-11-30T00:00:00"], "--as-of: '2026-11-30T00:00:00' has no UTC offset"),
    (["--policy", "/nonexistent.toml"], "--policy: cannot read policy file /nonexistent.toml"),
    (["--html", "/nonexistent/dir/r.html"], "--html: /nonexistent/dir/r.html is not a file in an existing directory"),
    (["--html", "/dev/null"], "--html: '/dev/null' is not an .html file name"),  # never over a device, a store, ...
    (["--html", "{tmp}/folder.html"], "folder.html exists and is not a file: nothing written"),
    (["--html", ""], "--html: '' is not an .html file name"),
    (["--json", "--csv"], "--json prints one JSON document: not with --csv"),
    (["--json", "--html", "{tmp}/r.html"], "--json prints one JSON document: not with --html"),
    (["--by", ","], "--by: ',' names no grouping"),
    (["--from", "2026-10-01", "--to", "9999-12-31"], "--to: '9999-12-31' is past the last date"),
    (["--database-url", "sqlite:///{tmp}"], "cannot read the ticket store at"),  # a directory
    (["--database-url", "postgresql://postgres@127.0.0.1:1/none"], "cannot read the ticket store at 127.0.0.1:1/none"),
])
def test_bad_input_is_one_line(tmp_path: Path, args: list[str], expected: str) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    upgrade(url)
    (tmp_path / "folder.html").mkdir()
    done = escalator("report", "--database-url", url, *[a.replace("{tmp}", str(tmp_path)) for a in args])
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.count("\n") == 1 and expected in done.stderr, done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["folder.html", "store.db"]  # nothing written


def test_the_page_is_never_written_through_a_link_left_beside_it(hand_built: TicketStore, database_url: str, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere.txt"
    elsewhere.write_text("keep me")
    (tmp_path / "r.html.partial").symlink_to(elsewhere)  # a name an older version wrote through
    done = escalator("report", "--database-url", database_url, "--from", "2026-10-01", "--to", "2026-10-31", "--html", str(tmp_path / "r.html"))
    assert done.returncode == 0, done.stderr
    assert elsewhere.read_text() == "keep me" and (tmp_path / "r.html").is_file() and not (tmp_path / "r.html").is_symlink()
    assert "<svg" in (tmp_path / "r.html").read_text()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".r.html.")]  # no temporary file left


def test_a_missing_store_is_one_line(tmp_path: Path) -> None:
    done = escalator("report", "--database-url", f"sqlite:///{tmp_path / 'none.db'}")
    assert done.returncode == 2 and "does not exist: no ticket store there" in done.stderr


CHROMIUM = os.environ.get("ESCALATOR_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"


@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Chromium: apt-get install chromium (.ci/run does)")
async def test_the_html_page_opens_offline_in_chromium(hand_built: TicketStore, database_url: str, tmp_path: Path) -> None:
    from playwright.async_api import async_playwright

    page_file = tmp_path / "october.html"
    done = escalator("report", "--database-url", database_url, "--from", "2026-10-01", "--to", "2026-10-31", "--by", "week,severity",
                     "--html", str(page_file))
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"wrote {page_file}") and "7 tickets, 3 goal(s) missed" in done.stdout
    text = page_file.read_text()
    assert not re.search(r"""(src|href|url)\s*[=(]\s*["']?https?:""", text)  # nothing to fetch: no CDN, no remote font
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu", "--no-first-run",
                                                                                    "--disable-background-networking"])
        try:
            page = await browser.new_page(viewport={"width": 1400, "height": 1000})
            requests: list[str] = []
            page.on("request", lambda r: requests.append(r.url))
            await page.goto(page_file.as_uri())
            assert await page.title() == "Support report 2026-10-01 to 2026-10-31"
            assert await page.locator("svg").count() == 5  # breach rate, FRT distribution, MTTR, CSAT, reopen rate
            assert await page.locator("#goals .missed").count() == 3
            assert await page.locator("#figures tr").count() == 1 + 5 + 1  # the header, 5 week x severity groups, the total
            box = await page.locator("svg").first.bounding_box()
            assert box["width"] > 300 and box["height"] > 150  # drawn, not collapsed
            await page.screenshot(path=str(tmp_path / "report.png"), full_page=True)
            assert requests == [page_file.as_uri()]  # the page fetched nothing else
        finally:
            await browser.close()
