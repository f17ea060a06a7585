"""What every journey needs: a watched page and the login through Spotify's page."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from playwright.sync_api import Page, Response, expect

from devtools.stack import Stack

# The dashboard at these widths is saved under artifacts/screenshots/.
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}

# Reports the page's own securitypolicyviolation events, in case a violation
# ever stops showing up as a console error.
_CSP_LISTENER = """
document.addEventListener("securitypolicyviolation", (event) => {
  window.__euterpeCspViolation(
    `${event.effectiveDirective} blocked ${event.blockedURI || "inline"} on ${document.URL}`
  );
});
"""


@dataclass
class Watch:
    """What went wrong in one browser context: console errors, page errors, CSP violations,
    failed images or scripts, and Euterpe pages without a CSP header.

    Chromium also logs "Failed to load resource" for a *page* answered with an
    error status (the allow-list page is a 403, by design); the journeys assert
    those statuses themselves, so only that message, for that very page, is let through.
    """

    stack: Stack
    problems: list[str] = field(default_factory=list)
    console_errors: list[tuple[str, str]] = field(default_factory=list)
    error_pages: set[str] = field(default_factory=set)

    def attach(self, context) -> None:
        context.expose_binding(
            "__euterpeCspViolation", lambda _source, text: self.problems.append(f"CSP: {text}")
        )
        context.add_init_script(_CSP_LISTENER)
        context.on("page", self.watch_page)

    def watch_page(self, page: Page) -> None:
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.problems.append(f"page error: {error}"))
        page.on("response", self._response)
        # Names full of HTML (the "html" listener) must never run as script.
        page.on("dialog", lambda dialog: self.problems.append(f"dialog: {dialog.message}"))

    def _console(self, message) -> None:
        if message.type == "error":
            self.console_errors.append((message.text, message.location.get("url", "")))

    def _response(self, response: Response) -> None:
        request = response.request
        if request.resource_type != "document":
            if response.status >= 400:
                kind = request.resource_type
                self.problems.append(f"{response.status} for {kind} {response.url}")
            return
        if response.status >= 400:
            self.error_pages.add(response.url)
        headers = response.headers
        euterpe_page = response.url.startswith(self.stack.base_url) and headers.get(
            "content-type", ""
        ).startswith("text/html")
        if euterpe_page and "content-security-policy" not in headers:
            self.problems.append(f"no CSP header on {response.status} {response.url}")

    def report(self) -> list[str]:
        found = list(self.problems)
        for text, url in self.console_errors:
            if text.startswith("Failed to load resource") and url in self.error_pages:
                continue
            found.append(f"console error ({url}): {text}")
        return found


def start_login(page: Page, stack: Stack) -> None:
    """Euterpe's login button, up to Spotify's consent page."""
    page.goto(stack.url("/login"))
    page.get_by_role("button", name=re.compile(r"log in with spotify", re.I)).click()
    page.wait_for_url(f"{stack.fake_url}/authorize**")


def choose_listener(page: Page, listener: str) -> None:
    """On Spotify's (the fake's) consent page, log in as ``listener``."""
    page.locator(f"button.listener[value='{listener}']").click()


def log_in(page: Page, stack: Stack, listener: str) -> None:
    """Log in as a person would and wait for the dashboard."""
    start_login(page, stack)
    choose_listener(page, listener)
    wait_for_dashboard(page, stack)


def wait_for_dashboard(page: Page, stack: Stack) -> None:
    page.wait_for_url(re.compile(re.escape(stack.url("/")) + r"(\?.*)?$"))
    expect(page.get_by_role("button", name=re.compile(r"log ?out", re.I))).to_be_visible()
    expect(page.locator("#top-tracks")).to_be_visible()
