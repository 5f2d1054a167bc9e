"""How e-mail becomes tickets: the mail rules file (`escalator mail-intake --rules FILE`).

```toml
default_severity = "sev3"        # when no subject keyword matches
unknown_senders = "refuse"       # or a customer id, e.g. "UNKNOWN": where mail from unmapped domains goes
authserv_id = "mx.example.com"   # optional: trust only an Authentication-Results header from this host

[domains]                        # sender's domain -> customer id (subdomains match too)
"acme.example" = "ACME"

[severity_keywords]              # subject keywords (case-insensitive words), highest severity first
sev1 = ["outage", "down", "urgent"]
sev2 = ["broken", "error"]

[high_severity]                  # who may open above Sev-2 by mail: domains on this list, and
domains = ["acme.example"]       # only when the gateway says DKIM or SPF passed
```

Why the cap: a forged sender must not page anyone at night; Sev-1 and Sev-2 page on-call.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from sla.refusals import explain
from sla.severity import Severity
from sla.ticket import ID_PATTERN

DOMAIN = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")


class MailRulesError(ValueError):
    """A rules file that cannot be used: one line per problem, naming the file and the field."""


class HighSeverity(BaseModel):
    model_config = ConfigDict(extra="forbid")
    domains: list[str] = Field(default_factory=list)

    @field_validator("domains")
    @classmethod
    def _domains(cls, value: list[str]) -> list[str]:
        for domain in value:
            if not DOMAIN.fullmatch(domain.lower()):
                raise ValueError(f"{domain!r} is not a mail domain")
        return [d.lower() for d in value]

    def allows(self, domain: str) -> bool:
        """The domain or a parent of it is listed (as [domains] matches subdomains)."""
        return any(domain == d or domain.endswith("." + d) for d in self.domains)


class MailRules(BaseModel):
    model_config = ConfigDict(extra="forbid")

    default_severity: Severity = Severity.SEV3
    unknown_senders: str = Field(default="refuse", description="'refuse', or the customer id unmapped senders' mail goes to.")
    authserv_id: str | None = Field(default=None, description="Trust only the Authentication-Results header from this host.")
    domains: dict[str, str] = Field(default_factory=dict)
    severity_keywords: dict[Severity, list[str]] = Field(default_factory=dict)
    high_severity: HighSeverity = Field(default_factory=HighSeverity)

    @field_validator("domains")
    @classmethod
    def _domains(cls, value: dict[str, str]) -> dict[str, str]:
        out = {}
        for domain, customer in value.items():
            if not DOMAIN.fullmatch(domain.lower()):
                raise ValueError(f"{domain!r} is not a mail domain")
            if not re.fullmatch(ID_PATTERN, customer):
                raise ValueError(f"{domain}: {customer!r} is not a customer id (letters, digits and . _ : -)")
            out[domain.lower()] = customer
        return out

    @field_validator("unknown_senders")
    @classmethod
    def _unknown(cls, value: str) -> str:
        if value != "refuse" and not re.fullmatch(ID_PATTERN, value):
            raise ValueError(f"{value!r}: give 'refuse' or a customer id")
        return value

    def customer_of(self, domain: str) -> str | None:
        """The customer of a sender's domain (or a parent domain), the unknown senders' customer, or None: refuse."""
        parts = domain.lower().split(".")
        for i in range(len(parts) - 1):
            found = self.domains.get(".".join(parts[i:]))
            if found:
                return found
        return None if self.unknown_senders == "refuse" else self.unknown_senders

    def severity_of(self, subject: str) -> Severity:
        """The highest severity one of whose keywords (words or phrases, any script) is in the subject."""
        text = f" {_words(subject)} "
        for severity in sorted(self.severity_keywords, key=lambda s: s.value):
            if any(f" {_words(k)} " in text for k in self.severity_keywords[severity] if _words(k)):
                return severity
        return self.default_severity


def _words(text: str) -> str:
    return " ".join(re.findall(r"\w+", text.lower()))


def load_rules(path: Path | None) -> MailRules:
    """The rules of a file (no file: every sender refused, since no domain is mapped)."""
    if path is None:
        return MailRules()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise MailRulesError(f"{path}: cannot read it: {exc.strerror}") from None
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise MailRulesError(f"{path}: not TOML in UTF-8: {exc}") from None
    try:
        return MailRules.model_validate(data)
    except ValidationError as exc:
        raise MailRulesError("\n".join(f"{path}: {explain(e)}" for e in exc.errors(include_url=False))) from None
