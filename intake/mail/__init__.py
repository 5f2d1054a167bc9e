"""E-mail to tickets: `escalator mail-intake`, an SMTP server for a mail gateway (docs/intake.md, "Mail")."""
