"""What an operator sees: the Temporal UI, wired to the codec server, shows an encrypted ticket in
plaintext. Headless Chromium (Debian's /usr/bin/chromium, driven by Playwright; .ci/run installs it)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from starter.codec_server import codec_app
from tests.conftest import binary
from tests.receivers import free_port
from tests.test_encryption import K1, NOTE, TITLE, _client, _keys, _open_and_work, _served
from worker.main import build_worker
from workflows import search_attributes

CHROMIUM = os.environ.get("ESCALATOR_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
# Without the background-networking flags Chromium keeps dialling Google's hosts, which this
# closed network refuses.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]

pytestmark = [pytest.mark.devserver,
              pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Chromium: apt-get install chromium (.ci/run does)")]


async def test_the_ui_shows_an_encrypted_ticket_through_the_codec_server(store, tmp_path: Path, unique: str) -> None:
    from playwright.async_api import async_playwright

    ui_port = free_port()
    origins = [f"http://localhost:{ui_port}", f"http://127.0.0.1:{ui_port}"]
    async with _served(codec_app(_keys(K1), origins)) as codec_url:
        env = await WorkflowEnvironment.start_local(
            dev_server_existing_path=binary("temporal"), ui=True, ui_port=ui_port, dev_server_log_level="error",
            search_attributes=list(search_attributes.ALL), dev_server_extra_args=["--ui-codec-endpoint", codec_url])
        try:
            client = await _client(env, K1)
            async with build_worker(client, f"tq-{unique}", store=store):
                await _open_and_work(client, f"T-{unique}", f"tq-{unique}")
            async with async_playwright() as playwright:
                browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                try:
                    page = await browser.new_page(viewport={"width": 1400, "height": 1000})
                    await page.goto(f"http://127.0.0.1:{ui_port}/namespaces/default/workflows/T-{unique}")
                    await page.get_by_text(TITLE).first.wait_for(timeout=30_000)  # the decoded input
                    await page.get_by_text(NOTE).first.wait_for(timeout=30_000)  # a decoded activity summary
                    await page.screenshot(path=str(tmp_path / "ui.png"), full_page=True)
                finally:
                    await browser.close()
        finally:
            await env.shutdown()
