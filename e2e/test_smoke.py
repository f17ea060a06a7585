"""The login page, the way a listener first meets Euterpe."""

import re

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.e2e


def test_the_login_page_is_served_over_https_with_its_security_headers(open_page, stack):
    page = open_page()
    response = page.goto(stack.url("/login"))
    headers = response.all_headers()
    assert response.status == 200
    assert "content-security-policy" in headers
    assert "max-age=" in headers["strict-transport-security"]
    button = page.get_by_role("button", name=re.compile(r"log in with spotify", re.I))
    expect(button).to_be_visible()
