"""Who reads PIM's security pages (audit log and its exports, dashboard, alerts): an active Global
Administrator, Privileged Role Administrator, Security Administrator or Security Reader at '/'.
The same three rungs for each page: anonymous, verified but not a reader, a reader."""

import pytest
from django.urls import reverse
from pytest_django.asserts import assertContains, assertRedirects

from roles.models import Role
from tests.conftest import verify_session
from tests.factories import ActiveAssignmentFactory, EligibleAssignmentFactory, ScopeFactory

READER_SLUGS = ["global-administrator", "privileged-role-administrator", "security-administrator", "security-reader"]
PAGES = {  # url: what a reader sees there (None: a file, not a page)
    reverse("audit:events"): "<h1>Audit log</h1>",
    reverse("audit:export-csv"): None,
    reverse("audit:export-jsonl"): None,
    reverse("dashboard"): "<h1>Dashboard</h1>",
    reverse("alerts:list"): "<h1>Security alerts</h1>",
}


def role(slug: str) -> Role:
    return Role.objects.get(slug=slug)


@pytest.mark.parametrize("url", PAGES)
def test_anonymous_visitors_are_sent_to_sign_in(client, db, url):
    response = client.get(url)

    assertRedirects(response, f"/accounts/login/?next={url.replace('/', '%2F')}", fetch_redirect_response=False)


@pytest.mark.parametrize("url", PAGES)
def test_a_verified_user_without_an_active_reader_role_at_the_root_is_refused(client, dave, url):
    # Signed in with a code, but only eligible at '/' and active below it.
    EligibleAssignmentFactory(principal=dave, role=role("security-reader"))
    ActiveAssignmentFactory(principal=dave, role=role("security-reader"), scope=ScopeFactory(path="/subscriptions"))
    verify_session(client, dave)

    response = client.get(url)

    assertContains(response, "activate one from My roles first", status_code=403)


@pytest.mark.parametrize("url", PAGES)
@pytest.mark.parametrize("slug", READER_SLUGS)
def test_each_reader_role_active_at_the_root_opens_it(client, dave, slug, url):
    ActiveAssignmentFactory(principal=dave, role=role(slug))
    verify_session(client, dave)

    response = client.get(url)

    assert response.status_code == 200
    if PAGES[url]:
        assertContains(response, PAGES[url], html=True)
