"""The API's interactive docs work in a real browser under PIM's content security policy,
with every asset served by PIM itself."""

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser


def test_the_api_docs_render_and_load_nothing_from_elsewhere(live_server, page, transactional_db):
    requested = []
    page.on("request", lambda request: requested.append(request.url))
    blocked = []
    page.on(
        "console", lambda message: blocked.append(message.text) if "Content Security Policy" in message.text else None
    )

    page.goto(live_server.url + "/api/docs/")

    expect(page.get_by_role("heading", name="PIM API")).to_be_visible()
    expect(page.get_by_text("/api/v1/activation-requests/", exact=True).first).to_be_visible()
    assert all(url.startswith(live_server.url) or url.startswith("data:") for url in requested), requested
    assert blocked == []
