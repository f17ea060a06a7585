"""Browser journeys: Debian's Chromium driven by Playwright against the whole stack.

Euterpe runs under gunicorn as the Procfile starts it, with production settings
over TLS (a throwaway certificate), so Secure cookies, HSTS, the CSRF origin
check and the CSP are the real ones; the fake Spotify runs on ``localhost``, a
different site from Euterpe's ``127.0.0.1``. Run with ``make e2e``.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from devtools.stack import BASE_DIR, Stack
from e2e.support import AXE_PATH, DESKTOP, Watch

CHROMIUM = os.environ.get("EUTERPE_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    # Without these Chromium keeps calling Google's hosts, which this network refuses.
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOTS = BASE_DIR / "artifacts" / "screenshots"
LOGS = BASE_DIR / "artifacts" / "e2e-logs"


def pytest_collection_modifyitems(items):
    for item in items:
        if Path(item.fspath).is_relative_to(Path(__file__).parent):
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    if not Path(CHROMIUM).exists():
        pytest.fail(f"No Chromium at {CHROMIUM}: run `apt-get install chromium` (or `make e2e`)")
    if not AXE_PATH.exists():
        pytest.fail(f"No axe-core at {AXE_PATH}: run `npm ci` (or `make e2e`)")
    return {
        **browser_type_launch_args,
        "executable_path": CHROMIUM,
        "args": CHROMIUM_ARGS,
        "headless": True,
    }


@pytest.fixture(scope="session")
def base_url(stack):
    # Also replaces pytest-playwright's own fixture, which pytest 9 warns about.
    return stack.base_url


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args):
    # The throwaway certificate is trusted by no browser.
    return {**browser_context_args, "ignore_https_errors": True, "viewport": DESKTOP}


@pytest.fixture(scope="session")
def stack():
    # The history sync on, as an operator turns it on (e2e/test_history.py uses it).
    with Stack(tls=True, env={"HISTORY_SYNC_ENABLED": "true"}) as stack:
        yield stack
        # gunicorn's and the fake's logs outlive the run, for a failure's story.
        LOGS.mkdir(parents=True, exist_ok=True)
        for log in (stack.gunicorn_log, stack.worker_log, stack.fake_log):
            shutil.copy(log, LOGS / log.name)


@pytest.fixture
def open_page(browser, browser_context_args, stack):
    """``open_page()`` -> a page in a new browser context (its own cookie jar), watched.

    At the end of the test, any console error, page error, CSP violation, axe-core
    violation or Euterpe page without a CSP header in any of them fails the test.
    """
    contexts = []
    watches = []

    def factory(**context_args):
        context = browser.new_context(**{**browser_context_args, **context_args})
        watch = Watch(stack)
        watch.attach(context)
        contexts.append(context)
        watches.append(watch)
        return context.new_page()

    yield factory

    for watch, context in zip(watches, contexts, strict=True):
        if context.pages:
            watch.settle(context.pages[0])
    for context in contexts:
        context.close()
    for watch in watches:
        watch.check_pages(browser, browser_context_args)
    problems = [problem for watch in watches for problem in watch.report()]
    assert not problems, "\n".join(problems)


@pytest.fixture
def screenshot():
    """``screenshot(page, name)`` saves ``name.png`` (the whole page) and ``name-top.png``
    (what the first screen shows) under artifacts/screenshots/."""

    def save(page, name):
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=SCREENSHOTS / f"{name}-top.png")
        path = SCREENSHOTS / f"{name}.png"
        page.screenshot(path=path, full_page=True)
        return path

    return save
