"""Tokens never reach an error page, whatever DEBUG says."""

import secrets
import sys

from django.test import RequestFactory
from django.views.debug import ExceptionReporter
from django.views.decorators.debug import sensitive_variables

# Made at run time: the error page shows source lines, and a literal would be in them.
SECRET = "fakeAT-" + secrets.token_urlsafe(16)


@sensitive_variables()
def _fails_holding_a_token(access_token):
    raise RuntimeError("Spotify said no")


def _error_page(settings, debug):
    settings.DEBUG = debug
    request = RequestFactory().get("/")
    try:
        _fails_holding_a_token(SECRET)
    except RuntimeError:
        return ExceptionReporter(request, *sys.exc_info()).get_traceback_html()
    raise AssertionError("unreachable")


def test_the_debug_error_page_hides_sensitive_variables(settings):
    page = _error_page(settings, debug=True)

    assert "Spotify said no" in page
    assert SECRET not in page


def test_error_reports_hide_sensitive_variables_with_debug_off(settings):
    assert SECRET not in _error_page(settings, debug=False)
