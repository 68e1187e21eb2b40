"""Each person's notifications page lists what PIM mailed them, newest first, and nobody else's."""

from datetime import UTC, datetime, timedelta

import pytest
from django.urls import reverse
from pytest_django.asserts import assertContains, assertNotContains

from audit import outbox
from tests.conftest import verify_session

T0 = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)
LINK = "https://pim.example.com/requests/7/"


@pytest.fixture
def clock(time_machine):
    time_machine.move_to(T0, tick=False)
    return time_machine


def _mail(user, subject: str, link: str = LINK):
    [message] = outbox.queue(rule="activation.notice", recipients=[user], subject=subject, body="", link=link)
    return message


def test_anonymous_visitors_are_sent_to_sign_in(client):
    response = client.get(reverse("accounts:notifications"))

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("accounts:login"))


def test_the_page_lists_your_own_notifications_newest_first_with_status_and_link(client, alice, bob, clock):
    older = _mail(alice, "[PIM] Your request for Exchange Administrator was approved")
    clock.move_to(T0 + timedelta(minutes=5), tick=False)
    _mail(alice, "[PIM] Exchange Administrator has expired", link="")
    _mail(bob, "[PIM] alice asks to activate Exchange Administrator")
    outbox.deliver(message_id=older.pk, now=T0 + timedelta(minutes=5))
    verify_session(client, alice)

    response = client.get(reverse("accounts:notifications"))

    page = response.content.decode()
    assert page.index("has expired") < page.index("was approved")  # newest first
    assertContains(response, "Waiting to be sent")
    assertContains(response, "Sent")
    assertContains(response, f'<a href="{LINK}">Open</a>', html=True)
    assertContains(response, "2026-11-22 09:05 UTC")
    assertNotContains(response, "alice asks to activate")  # bob's


def test_a_subject_is_shown_as_text_not_markup(client, alice, clock):
    _mail(alice, "[PIM] <script>alert(1)</script> asks to activate")
    verify_session(client, alice)

    response = client.get(reverse("accounts:notifications"))

    assertContains(response, "[PIM] &lt;script&gt;alert(1)&lt;/script&gt; asks to activate")
    assertNotContains(response, "<script>alert(1)</script>")


def test_many_notifications_are_split_into_pages(client, alice, clock):
    for number in range(27):
        clock.move_to(T0 + timedelta(minutes=number), tick=False)
        _mail(alice, f"[PIM] Notice number {number:02d}")
    verify_session(client, alice)

    first = client.get(reverse("accounts:notifications"))
    second = client.get(reverse("accounts:notifications"), {"page": 2})

    assertContains(first, "Notice number 26")
    assertNotContains(first, "Notice number 01")
    assertContains(first, "Page 1 of 2")
    assertContains(second, "Notice number 00")
    assertContains(second, "Notice number 01")
    assertNotContains(second, "Notice number 02")


def test_someone_with_nothing_sent_sees_so(client, dave):
    verify_session(client, dave)

    response = client.get(reverse("accounts:notifications"))

    assertContains(response, "PIM has not sent you anything yet.")


def test_every_page_links_to_the_notifications(client, alice):
    verify_session(client, alice)

    response = client.get(reverse("home"))

    assertContains(response, f'<a href="{reverse("accounts:notifications")}">Notifications</a>', html=True)


NOTIFICATIONS_QUERIES = 6  # session, user, OTP device, count, the nav's admin-link check, the rows


@pytest.mark.parametrize("count", [1, 25])
def test_the_page_query_count_does_not_grow(client, alice, clock, count, django_assert_max_num_queries):
    for number in range(count):
        _mail(alice, f"[PIM] Notice {number}")
    verify_session(client, alice)

    with django_assert_max_num_queries(NOTIFICATIONS_QUERIES):
        client.get(reverse("accounts:notifications"))
