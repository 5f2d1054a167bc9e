"""structlog setup for the worker: JSON when not on a terminal, key-value when on one."""

from __future__ import annotations

import logging
import sys

import structlog
from temporalio import workflow

from connection.codec import undecodable


class CollapseUndecryptable(logging.Filter):
    """A worker without a ticket's key fails that ticket's workflow task on every retry, and the
    SDK logs a full traceback each time: keep one line with the reason (which key is missing)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and record.exc_info[1] is not None and (why := undecodable(record.exc_info[1])):
            record.msg, record.args = f"{record.getMessage()}: {why}", ()
            record.exc_info, record.exc_text = None, None
        return True


def configure_logging(level: str = "INFO") -> None:
    """Route structlog and stdlib logging (temporalio's replay-safe workflow logger) to stderr."""
    shared = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    renderer = structlog.dev.ConsoleRenderer() if sys.stderr.isatty() else structlog.processors.JSONRenderer()
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[*shared, structlog.stdlib.ExtraAdder()],
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
    ))
    # The context goes in a structured field (temporal_workflow), not appended to the message.
    workflow.logger.workflow_info_on_message = False
    handler.addFilter(CollapseUndecryptable())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # Per-request and per-migration-step chatter: the product logs what matters of both itself.
    for noisy in ("httpx", "alembic"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
