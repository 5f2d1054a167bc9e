"""One module per delivery channel: console, webhook, Slack, e-mail, PagerDuty."""
