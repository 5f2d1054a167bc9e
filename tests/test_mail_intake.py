"""E-mail to tickets with a real SMTP client (aiosmtplib) against the intake's SMTP server, on the
real dev server with a real worker: open, reply, duplicate, forged sender, Windows-1252, oversize,
a refused peer, AUTH."""

from __future__ import annotations

import asyncio
import contextlib
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from datetime import UTC, datetime
from pathlib import Path

import aiosmtplib
import pytest
from structlog.testing import capture_logs
from temporalio.testing import WorkflowEnvironment

from intake.mail.gate import Gate, add_user, read_users
from intake.mail.handler import MailHandler
from intake.mail.message import ticket_of
from intake.mail.rules import MailRules
from intake.mail.serve import smtp_factory
from policies import DEFAULT_POLICY
from sla.policy import parse_policy
from starter.client import TicketClient
from tests.intake_server import free_port
from worker.main import build_worker
from workflows.ticket import TicketWorkflow

pytestmark = pytest.mark.devserver
POLICY = parse_policy(DEFAULT_POLICY.read_text(), "default.toml")


def rules(unique: str) -> MailRules:
    return MailRules.model_validate({
        "domains": {"acme.example": f"ACME-{unique}", "globex.example": f"GLOBEX-{unique}"},
        "severity_keywords": {"sev1": ["down", "outage"], "sev2": ["broken"]},
        "high_severity": {"domains": ["acme.example"]}, "authserv_id": "mx.gateway.test",
    })


@contextlib.asynccontextmanager
async def smtp_server(client, mail_rules: MailRules, allow_from=("127.0.0.1/32",), users=None, max_size=64 * 1024):
    gate = Gate(list(allow_from), users or {})
    port = free_port()
    server = await asyncio.get_running_loop().create_server(
        smtp_factory(MailHandler(TicketClient(client), mail_rules, POLICY, gate), gate, max_size, plain_auth=True), host="127.0.0.1", port=port)
    try:
        yield port
    finally:
        server.close()
        await server.wait_closed()


def message(sender: str, subject: str, body: str = "Hello", *, reply_to: str | None = None, auth: str | None = None,
            charset: str = "utf-8", date: datetime | None = None) -> EmailMessage:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = sender, "support@vendor.example", subject
    msg["Message-ID"] = make_msgid(domain=sender.split("@")[1])
    msg["Date"] = format_datetime(date or datetime.now(UTC))
    if reply_to:
        msg["In-Reply-To"] = reply_to
    if auth:
        msg["Authentication-Results"] = auth
    msg.set_content(body, charset=charset)
    return msg


async def send(port: int, msg: EmailMessage | bytes, sender: str = "alice@acme.example", login: tuple[str, str] | None = None):
    """(code, text) of the server's answer to DATA (or to the command that refused)."""
    raw = msg if isinstance(msg, bytes) else msg.as_bytes()
    smtp = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, start_tls=False, timeout=30)
    await smtp.connect()
    try:
        if login:
            await smtp.login(*login)
        errors, text = await smtp.sendmail(sender, ["support@vendor.example"], raw)
        return 250, text
    except aiosmtplib.SMTPResponseException as exc:
        return exc.code, exc.message
    finally:
        with contextlib.suppress(Exception):
            await smtp.quit()


async def test_mail_opens_tickets_replies_apply_once_and_forged_senders_page_nobody(store, dev_env: WorkflowEnvironment, unique: str) -> None:
    mail_rules = rules(unique)
    async with build_worker(dev_env.client, store=store), smtp_server(dev_env.client, mail_rules) as port:
        # An authenticated, allow-listed sender may open a Sev-1.
        first = message("alice@acme.example", f"Checkout is down {unique}", auth="mx.gateway.test; dkim=pass header.d=acme.example; spf=pass")
        code, text = await send(port, first)
        ticket_id = ticket_of(first["Message-ID"].strip("<>"))
        assert code == 250 and f"opened {ticket_id}" in text, text
        handle = dev_env.client.get_workflow_handle_for(TicketWorkflow.run, ticket_id)
        state = (await handle.query(TicketWorkflow.state)).state
        assert (state.severity.value, state.ticket.channel, state.ticket.customer, state.ticket.via) == ("sev1", "email", f"ACME-{unique}", "mail:gateway")
        assert state.ticket.title == f"Checkout is down {unique}"

        # The same message again: nothing new.
        code, text = await send(port, first)
        assert code == 250 and f"already opened {ticket_id}" in text

        # A forged sender: no DKIM/SPF pass (or a pass that is not the gateway's, or forged below it) opens Sev-2 at most.
        for auth in (None, "mx.gateway.test; dkim=fail; spf=softfail", "evil.example; dkim=pass header.d=acme.example",
                     "mx.gateway.test; spf=fail smtp.mailfrom=spf=pass@evil.example",  # the words, not a result
                     "mx.gateway.test; dkim=fail (not dkim=pass) header.d=acme.example",
                     "mx.gateway.test; dkim=pass header.d=evil.example"):  # a real pass, for the sender's own domain
            forged = message("ceo@acme.example", f"Everything is down {unique}", auth=auth)
            code, _ = await send(port, forged, sender="ceo@acme.example")
            assert code == 250
            forged_state = (await dev_env.client.get_workflow_handle_for(TicketWorkflow.run, ticket_of(forged["Message-ID"].strip("<>")))
                            .query(TicketWorkflow.state)).state
            assert forged_state.severity.value == "sev2", auth
        # A domain not on the high-severity list, even authenticated: Sev-2.
        globex = message("bob@globex.example", f"Outage {unique}", auth="mx.gateway.test; dkim=pass header.d=globex.example")
        assert (await send(port, globex, sender="bob@globex.example"))[0] == 250

        # A reply (In-Reply-To) is a customer message at its Date, once.
        said_at = datetime.now(UTC).replace(microsecond=0)
        reply = message("alice@acme.example", f"Re: Checkout is down {unique}", "Still failing", reply_to=first["Message-ID"], date=said_at)
        code, text = await send(port, reply)
        assert code == 250 and f"added to {ticket_id}" in text, text
        assert (await send(port, reply))[0] == 250  # the same reply again
        # A reply naming the ticket in its subject works too.
        tagged = message("alice@acme.example", f"[{ticket_id}] more details", "Logs attached")
        assert f"added to {ticket_id}" in (await send(port, tagged))[1]
        # Another customer cannot write to ACME's ticket, even naming it.
        intruder = message("bob@globex.example", f"[{ticket_id}] hello", "I am not ACME")
        code, text = await send(port, intruder, sender="bob@globex.example")
        assert code == 550 and "not a domain of ticket" in text, text
        state = (await handle.query(TicketWorkflow.state)).state
        assert state.customer_messages == 2

        # Windows-1252 mail is ordinary mail.
        cp1252 = message("alice@acme.example", f"Caf\u00e9 menu broken {unique}", "Prices show \u20ac 12,50 \u2013 wrong", charset="cp1252")
        assert b"charset=\"cp1252\"" in cp1252.as_bytes() or b"charset=cp1252" in cp1252.as_bytes()
        code, text = await send(port, cp1252)
        assert code == 250 and "opened" in text

        # Unknown domain: refused, nothing opened.
        code, text = await send(port, message("x@unknown.example", "Hi"), sender="x@unknown.example")
        assert code == 550 and "unknown.example is not a customer's domain" in text

        # Undecodable text and malformed MIME: 554, never a crash.
        bad = (b"From: alice@acme.example\r\nTo: s@v.example\r\nSubject: bad\r\nMessage-ID: <bad-" + unique.encode() + b"@acme.example>\r\n"
               b"Content-Type: text/plain; charset=utf-8\r\n\r\nbroken \xff\xfe bytes\r\n")
        code, text = await send(port, bad)
        assert code == 554 and "not utf-8 text" in text
        broken = (b"From: alice@acme.example\r\nSubject: parts\r\nMIME-Version: 1.0\r\n"
                  b"Content-Type: multipart/mixed\r\n\r\nno boundary here\r\n")
        code, text = await send(port, broken)
        assert code == 554 and "malformed MIME" in text


async def test_oversize_refused_peer_and_auth(store, dev_env: WorkflowEnvironment, tmp_path: Path, unique: str) -> None:
    mail_rules = rules(unique)
    users_file = tmp_path / "mail-users.json"
    password = add_user(users_file, "gateway")
    async with build_worker(dev_env.client, store=store):
        async with smtp_server(dev_env.client, mail_rules, max_size=2048) as port:
            with capture_logs() as logged:
                code, text = await send(port, message("alice@acme.example", "Big", "x" * 5000))
            assert code == 552
            assert any(e["event"] == "mail refused: over the size limit" for e in logged), logged  # every refusal leaves a line
        # Only 10.0.0.0/8 may send without AUTH: this loopback peer is refused at MAIL FROM.
        async with smtp_server(dev_env.client, mail_rules, allow_from=("10.0.0.0/8",), users=read_users(users_file)) as port:
            code, text = await send(port, message("alice@acme.example", f"Hi {unique}"))
            assert code == 550 and "Not accepted from this address" in text
            with capture_logs() as logged:
                code, _ = await send(port, message("alice@acme.example", f"Hi {unique}"), login=("gateway", "wrong"))
            assert code == 535
            assert any(e["event"] == "mail refused: SMTP AUTH failed" and e["user"] == "gateway" for e in logged), logged
            assert not any("wrong" in str(e) for e in logged)  # never the password
            msg = message("alice@acme.example", f"Hello via auth {unique}")
            code, text = await send(port, msg, login=("gateway", password))
            assert code == 250 and "opened" in text, text
            state = (await dev_env.client.get_workflow_handle_for(TicketWorkflow.run, ticket_of(msg["Message-ID"].strip("<>")))
                     .query(TicketWorkflow.state)).state
            assert state.ticket.via == "mail:gateway"


async def test_a_reply_to_a_closed_ticket_opens_a_follow_up(store, dev_env: WorkflowEnvironment, unique: str) -> None:
    mail_rules = rules(unique)
    async with build_worker(dev_env.client, store=store), smtp_server(dev_env.client, mail_rules) as port:
        first = message("alice@acme.example", f"Question {unique}")
        assert (await send(port, first))[0] == 250
        closed_id = ticket_of(first["Message-ID"].strip("<>"))
        await dev_env.client.get_workflow_handle(closed_id).terminate(reason="closed for the test")
        reply = message("alice@acme.example", f"Re: Question {unique}", reply_to=first["Message-ID"])
        code, text = await send(port, reply)
        assert code == 250 and f"(follows {closed_id})" in text, text
        follow_up = ticket_of(reply["Message-ID"].strip("<>"))
        state = (await dev_env.client.get_workflow_handle_for(TicketWorkflow.run, follow_up).query(TicketWorkflow.state)).state
        assert state.ticket.follows == closed_id and state.ticket.title == f"Question {unique}"
        # The first message again, its ticket closed: it was handled already; nothing bounces.
        code, text = await send(port, first)
        assert code == 250 and f"already handled: {closed_id}" in text, text


def test_rules_refuse_bad_files(tmp_path: Path) -> None:
    from intake.mail.rules import MailRulesError, load_rules

    bad = tmp_path / "rules.toml"
    bad.write_text('unknown_senders = "two words"\n[domains]\n"not a domain" = "ACME"\n"acme.example" = "ACME Corp"\n')
    with pytest.raises(MailRulesError) as caught:
        load_rules(bad)
    text = str(caught.value)
    assert "rules.toml: domains" in text and "unknown_senders" in text
    assert MailRules.model_validate({"domains": {"acme.example": "ACME"}}).customer_of("eu.acme.example") == "ACME"
    assert MailRules().severity_of("Checkout broken") == "sev3"
    keywords = MailRules.model_validate({"severity_keywords": {"sev1": ["störung", "not working"]}, "high_severity": {"domains": ["ACME.example"]}})
    assert keywords.severity_of("Störung im Kassensystem") == "sev1" and keywords.severity_of("Login NOT working!") == "sev1"
    assert keywords.severity_of("working fine, not slow") == "sev3"
    assert keywords.high_severity.allows("eu.acme.example") and not keywords.high_severity.allows("acme.example.evil")



def test_mail_commands_refuse_bad_settings_and_show_a_password_once(tmp_path: Path) -> None:
    import json
    import os
    import subprocess
    import sys

    def escalator(*args: str) -> subprocess.CompletedProcess:
        env = {k: v for k, v in os.environ.items() if not k.startswith("ESCALATOR_MAIL")}
        return subprocess.run([sys.executable, "-m", "starter", *args], capture_output=True, text=True, timeout=60, env=env)

    (tmp_path / "rules.toml").write_text('[domains]\n"acme.example" = "two words"\n')
    run = escalator("mail-intake", "--rules", str(tmp_path / "rules.toml"), "--port", str(free_port()), "--allow-from", "10.0.0.0/33")
    assert run.returncode == 2, run.stderr
    lines = run.stderr.strip().splitlines()
    assert any("rules.toml: domains" in line and "not a customer id" in line for line in lines), lines
    assert any("--allow-from" in line for line in lines), lines
    missing = escalator("mail-intake", "--port", str(free_port()))
    assert missing.returncode == 2 and "--allow-from or --users-file" in missing.stderr
    users = tmp_path / "users.json"
    made = escalator("mail-user", "add", "gateway", "--users-file", str(users))
    assert made.returncode == 0 and made.stdout.strip() and made.stdout.strip() not in users.read_text()
    assert list(json.loads(users.read_text())["users"][0]) == ["name", "scrypt"]
    assert escalator("mail-user", "add", "gateway", "--users-file", str(users)).returncode == 2  # taken
    no_tls = escalator("mail-intake", "--port", str(free_port()), "--users-file", str(users))
    assert no_tls.returncode == 2 and "SMTP AUTH needs --plain-auth" in no_tls.stderr
