"""The page watcher itself: a page with an accessibility fault fails the test that opened it."""

import pytest

from e2e.support import AXE_SCHEMES, AXE_VIEWPORTS, KeptPage, Watch

pytestmark = pytest.mark.e2e

# An image without alt text and a button without a name, on a Euterpe address.
FAULTY = b"""<!doctype html><html lang="en"><head><title>Faulty</title></head><body><main>
<img src="/static/img/euterpe.svg" width="28" height="28"><button></button>
</main></body></html>"""


def test_axe_reports_each_violation_in_both_schemes_at_both_widths(
    browser, browser_context_args, stack
):
    watch = Watch(stack)
    watch.pages.append(KeptPage(stack.url("/faulty"), 200, {"content-type": "text/html"}, FAULTY))

    watch.check_pages(browser, browser_context_args)

    for rule in ("image-alt", "button-name"):
        found = [problem for problem in watch.report() if problem.startswith(f"axe {rule} ")]
        assert len(found) == len(AXE_SCHEMES) * len(AXE_VIEWPORTS), watch.report()
    assert all("/faulty" in problem for problem in watch.report())
