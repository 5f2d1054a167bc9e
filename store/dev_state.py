"""Where the last `escalator dev` keeps its data, so commands find its ticket store from any folder.

`escalator dev` records its data folder (absolute) in $XDG_STATE_HOME/escalator/dev.json (default
~/.local/state); `timeline`, `show` and `doctor` fall back to that folder's tickets.db when DATABASE_URL is
unset and the current folder has no .escalator/tickets.db.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from store.ticket_store import DEFAULT_URL


def state_file() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "escalator" / "dev.json"


def record(data_dir: Path, address: str, ui_url: str) -> None:
    """Remember the running dev stack's data folder; a failure to write is not worth stopping for."""
    try:
        path = state_file()
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"data_dir": str(data_dir.resolve()), "address": address, "ui_url": ui_url}))
    except OSError:
        pass


def default_database_url() -> str:
    """DATABASE_URL, else ./.escalator/tickets.db if it exists, else the last `escalator dev`'s store."""
    if os.environ.get("DATABASE_URL"):
        return os.environ["DATABASE_URL"]
    if Path(DEFAULT_URL.removeprefix("sqlite:///")).exists():
        return DEFAULT_URL
    try:
        data_dir = json.loads(state_file().read_text())["data_dir"]
    except (OSError, ValueError, KeyError, TypeError):
        return DEFAULT_URL
    recorded = Path(data_dir) / "tickets.db"
    return f"sqlite:///{recorded}" if recorded.exists() else DEFAULT_URL
