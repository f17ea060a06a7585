"""What every journey needs: a watched page and the login through Spotify's page."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cache

from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import Page, Response, Route, expect

from devtools.stack import BASE_DIR, Stack

# The dashboard at these widths is saved under artifacts/screenshots/; axe checks
# every page at both.
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}

# axe-core from the repository's package-lock.json (`npm ci`, which make e2e runs).
AXE_PATH = BASE_DIR / "node_modules" / "axe-core" / "axe.min.js"
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]
AXE_SCHEMES = ("light", "dark")
AXE_VIEWPORTS = (DESKTOP, PHONE)
_AXE_RUN = """tags => axe.run(document, {
  runOnly: {type: "tag", values: tags},
  resultTypes: ["violations"],
}).then(results => results.violations.map(violation => ({
  id: violation.id,
  impact: violation.impact,
  help: violation.help,
  targets: violation.nodes.map(node => node.target.join(" ")),
})))"""

# Reports the page's own securitypolicyviolation events, in case a violation
# ever stops showing up as a console error.
_CSP_LISTENER = """
document.addEventListener("securitypolicyviolation", (event) => {
  window.__euterpeCspViolation(
    `${event.effectiveDirective} blocked ${event.blockedURI || "inline"} on ${document.URL}`
  );
});
"""


@cache
def axe_source() -> str:
    if not AXE_PATH.exists():
        raise FileNotFoundError(f"No axe-core at {AXE_PATH}: run `npm ci` (make e2e does)")
    return AXE_PATH.read_text()


@dataclass
class Watch:
    """What went wrong in one browser context: console errors, page errors, CSP violations,
    failed images or scripts, Euterpe pages without a CSP header, and axe-core's WCAG
    violations on every Euterpe page.

    Chromium also logs "Failed to load resource" for a *page* answered with an
    error status (the allow-list page is a 403, by design); the journeys assert
    those statuses themselves, so only that message, for that very page, is let through.

    Every Euterpe page a test opens is checked by axe-core: the document exactly
    as the browser received it is kept, and at the end of the test served again
    (status, headers, CSP and all) to a fresh tab, where axe runs in light and
    dark at 1280 and 390 px. That is the page as it first showed (its scripts,
    where it has any, run again in the fresh tab); checking the live tab instead
    would race the test's next click. A state reached only by clicking (an open
    <details>) is the journey's to check. Django's admin (its own markup, not
    Euterpe's) is left out.
    """

    stack: Stack
    problems: list[str] = field(default_factory=list)
    console_errors: list[tuple[str, str]] = field(default_factory=list)
    error_pages: set[str] = field(default_factory=set)
    pages: list[KeptPage] = field(default_factory=list)
    # Documents whose body is still on its way to ``pages``.
    keeping: int = 0

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
        admin = response.url.startswith(self.stack.url("/admin/"))
        if euterpe_page and not admin and not 300 <= response.status < 400:
            self._keep(response)

    def _keep(self, response: Response) -> None:
        self.keeping += 1
        try:
            body = response.body()
        except PlaywrightError as error:
            self.problems.append(f"axe: could not keep {response.url}: {_first_line(error)}")
            return
        finally:
            self.keeping -= 1
        headers = {
            name: value
            for name, value in response.all_headers().items()
            if name not in ("content-length", "content-encoding", "set-cookie")
        }
        self.pages.append(KeptPage(response.url, response.status, headers, body))

    def settle(self, page: Page) -> None:
        """Let the documents still on their way arrive (before the contexts close)."""
        for _ in range(100):
            if not self.keeping:
                return
            page.wait_for_timeout(20)

    def check_pages(self, browser, context_args: dict) -> None:
        """Run axe on every page kept, in a fresh context serving each of them again."""
        if not self.pages:
            return
        # Reduced motion: a colour transition must not be caught halfway.
        context = browser.new_context(**context_args, reduced_motion="reduce")
        try:
            serving: list[KeptPage] = []

            def serve(route: Route) -> None:
                if route.request.is_navigation_request():
                    kept = serving[-1]
                    route.fulfill(status=kept.status, headers=kept.headers, body=kept.body)
                else:
                    route.fallback()

            context.route("**/*", serve)
            page = context.new_page()
            for kept in self.pages:
                serving.append(kept)
                try:
                    page.goto(kept.url)
                    page.evaluate(axe_source())
                    for scheme in AXE_SCHEMES:
                        page.emulate_media(color_scheme=scheme)
                        for size in AXE_VIEWPORTS:
                            page.set_viewport_size(size)
                            for violation in page.evaluate(_AXE_RUN, AXE_TAGS):
                                self.problems.append(
                                    _describe(violation, kept.url, scheme, size["width"])
                                )
                except PlaywrightError as error:
                    self.problems.append(f"axe could not check {kept.url}: {_first_line(error)}")
        finally:
            context.close()

    def report(self) -> list[str]:
        found = list(self.problems)
        for text, url in self.console_errors:
            if text.startswith("Failed to load resource") and url in self.error_pages:
                continue
            found.append(f"console error ({url}): {text}")
        return found


@dataclass(frozen=True)
class KeptPage:
    """A Euterpe document as the browser received it, for axe."""

    url: str
    status: int
    headers: dict[str, str]
    body: bytes


def _first_line(error: PlaywrightError) -> str:
    return error.message.splitlines()[0]


def _describe(violation: dict, url: str, scheme: str, width: int) -> str:
    targets = violation["targets"]
    shown = ", ".join(targets[:3]) + (f" and {len(targets) - 3} more" if len(targets) > 3 else "")
    return (
        f"axe {violation['id']} ({violation['impact']}) on {url}, {scheme}, {width}px, "
        f"{len(targets)} node{'s' if len(targets) != 1 else ''}: {violation['help']}: {shown}"
    )


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
