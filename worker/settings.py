"""The worker's configuration: environment variables, overridden by flags, checked before start."""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path

from pydantic import Field, SecretStr, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from activities.channels.email import SmtpSettings
from activities.channels.pagerduty import DEFAULT_EVENTS_URL
from activities.notify import NotifierSettings
from store.ticket_store import DEFAULT_URL, StoreConfigError, engine_url
from policies import DEFAULT_POLICY
from sla.contacts import Channel, check_contacts, parse_contacts, url_refusal
from sla.policy import Policy, PolicyError, parse_policy
from workflows.contract import TASK_QUEUE


class ConfigError(Exception):
    """Why the worker will not start, in lines a person can act on."""


class WorkerSettings(BaseSettings):
    """Every setting has an environment variable (the alias) and a `python -m worker` flag.

    Where Temporal is, and the payload keys, are not here: `connection` reads them the way the
    `temporal` CLI does (flags, TEMPORAL_* variables, the profile) for the worker and the CLI alike."""

    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True)

    task_queue: str = Field(TASK_QUEUE, validation_alias="ESCALATOR_TASK_QUEUE")
    database_url: str = Field(DEFAULT_URL, validation_alias="DATABASE_URL")
    policy: Path | None = Field(None, validation_alias="ESCALATOR_POLICY")
    contacts: Path | None = Field(None, validation_alias="ESCALATOR_CONTACTS")
    ui_url: str = Field("http://localhost:8233", validation_alias="ESCALATOR_UI_URL")
    allow_private_urls: bool = Field(False, validation_alias="ESCALATOR_ALLOW_PRIVATE_URLS")
    smtp_host: str = Field("localhost", validation_alias="SMTP_HOST")
    smtp_port: int = Field(25, ge=1, le=65535, validation_alias="SMTP_PORT")
    smtp_starttls: bool = Field(False, validation_alias="SMTP_STARTTLS")
    smtp_tls: bool = Field(False, validation_alias="SMTP_TLS")
    smtp_username: str | None = Field(None, validation_alias="SMTP_USERNAME")
    smtp_password: SecretStr | None = Field(None, validation_alias="SMTP_PASSWORD")
    smtp_from: str = Field("escalator@localhost", validation_alias="SMTP_FROM")
    pagerduty_events_url: str = Field(DEFAULT_EVENTS_URL, validation_alias="PAGERDUTY_EVENTS_URL")
    log_level: str = Field("INFO", validation_alias="ESCALATOR_LOG_LEVEL")
    max_cached_workflows: int | None = Field(
        None, ge=0, validation_alias="ESCALATOR_MAX_CACHED_WORKFLOWS",
        description="Tickets kept in the worker's cache (temporalio's default if unset; 0 turns sticky execution off).",
    )

    metrics_port: int | None = Field(
        None, ge=1, le=65535, validation_alias="ESCALATOR_METRICS_PORT",
        description="Serve /metrics, /healthz and /readyz on this port (off when unset).",
    )
    metrics_bind: str = Field("127.0.0.1", validation_alias="ESCALATOR_METRICS_BIND",
                              description="Address of the operations port (0.0.0.0 in a container, for Prometheus).")
    grace_period: float = Field(
        30.0, ge=0, le=3600, validation_alias="ESCALATOR_GRACE_PERIOD",
        description="Seconds a stopping worker lets running activities finish (deliveries in flight) before cancelling them.",
    )

    workflow_sandbox: bool = Field(
        False, validation_alias="ESCALATOR_WORKFLOW_SANDBOX",
        description="Run ticket workflows in temporalio's sandbox (the test suite always does; docs/performance.md).",
    )

    @classmethod
    def from_args(cls, args, **defaults) -> "WorkerSettings":
        """Settings from parsed flags (those given; the rest from the environment, else `defaults`,
        else the field's default); flags that are not settings (connection, keys) are ignored."""
        given = {k: v for k, v in vars(args).items() if v is not None and k in cls.model_fields}
        return cls(**{**defaults, **given})

    @property
    def policy_path(self) -> Path:
        return self.policy or Path(str(DEFAULT_POLICY))

    def notifier(self, namespace: str) -> NotifierSettings:
        """`namespace` is the connected one, for the Temporal UI links in notifications."""
        return NotifierSettings(
            contacts_path=self.contacts, allow_private_urls=self.allow_private_urls, ui_url=self.ui_url,
            namespace=namespace, pagerduty_events_url=self.pagerduty_events_url,
            smtp=SmtpSettings(host=self.smtp_host, port=self.smtp_port, starttls=self.smtp_starttls, use_tls=self.smtp_tls,
                              username=self.smtp_username, sender=self.smtp_from,
                              password=self.smtp_password.get_secret_value() if self.smtp_password else None),
        )

    def check(self, environ: dict[str, str] | None = None, today: date | None = None) -> tuple[Policy, list[str]]:
        """The policy, and warnings; raises ConfigError naming every problem found."""
        environ = dict(os.environ) if environ is None else environ
        errors: list[str] = []
        warnings: list[str] = []
        policy = None
        try:
            policy = parse_policy(self.policy_path.read_text(encoding="utf-8"), str(self.policy_path))
        except OSError as exc:
            errors.append(f"ESCALATOR_POLICY: cannot read {self.policy_path}: {exc.strerror}")
        except UnicodeDecodeError:
            errors.append(f"ESCALATOR_POLICY: {self.policy_path} is not a text file (TOML in UTF-8)")
        except PolicyError as exc:
            errors += str(exc).splitlines()
        try:
            engine_url(self.database_url)
        except StoreConfigError as exc:
            errors.append(str(exc))
        if self.contacts is not None:
            try:
                contacts = parse_contacts(self.contacts.read_text(encoding="utf-8"), str(self.contacts))
            except OSError as exc:
                errors.append(f"ESCALATOR_CONTACTS: cannot read {self.contacts}: {exc.strerror}")
            except UnicodeDecodeError:
                errors.append(f"ESCALATOR_CONTACTS: {self.contacts} is not a text file (TOML in UTF-8)")
            except PolicyError as exc:
                errors += str(exc).splitlines()
            else:
                if policy is not None:
                    contact_errors, warnings = check_contacts(policy, contacts, str(self.contacts), today or date.today(),
                                                              allow_private=self.allow_private_urls)
                    errors += contact_errors
                for c in contacts.contacts:
                    secret = environ.get(c.secret_env) if c.secret_env else None
                    if c.secret_env and not secret:
                        errors.append(f"{self.contacts}: {c.role} ({c.channel.value}) needs the environment variable {c.secret_env}, which is not set")
                    elif c.channel is Channel.SLACK and (why := url_refusal(secret, self.allow_private_urls)):
                        errors.append(f"{self.contacts}: {c.role} (slack): the URL in {c.secret_env} can never be delivered: {why}")
        if errors:
            raise ConfigError("\n".join(errors))
        return policy, warnings


def setting_problems(exc: Exception) -> list[str]:
    """A pydantic-settings error as one line per setting, named by its variable (and flag)."""
    if not isinstance(exc, ValidationError):
        return str(exc).splitlines()

    def named(field: str) -> str:
        info = WorkerSettings.model_fields.get(field)
        alias = info.validation_alias if info is not None and isinstance(info.validation_alias, str) else None
        return f"{alias} / --{field.replace('_', '-')}" if alias else field

    return [f"{named(str(e['loc'][0]))}: {e['msg']} (got {e.get('input')!r})" for e in exc.errors()]
