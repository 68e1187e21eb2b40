"""An event written while a request is served says where the request came from."""

import pytest
from django.http import HttpResponse
from django.test import RequestFactory

from audit import context
from audit.middleware import RequestContextMiddleware
from audit.models import AuditEvent
from audit.services import record_event
from audit.verification import verify_chain

pytestmark = pytest.mark.django_db


def _serve(**meta):
    """Run a request through the middleware to a view that records one event."""

    def view(request):
        record_event(actor=None, action="test.during_request")
        return HttpResponse("done")

    request = RequestFactory().post("/roles/activate", **meta)
    return RequestContextMiddleware(view)(request)


def test_an_event_written_during_a_request_carries_the_client_address_and_user_agent():
    _serve(REMOTE_ADDR="203.0.113.7", HTTP_USER_AGENT="Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0")

    stored = AuditEvent.objects.get()
    assert stored.client_ip == "203.0.113.7"
    assert stored.user_agent == "Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0"
    assert verify_chain().ok


def test_an_event_written_after_the_request_has_no_client_address():
    _serve(REMOTE_ADDR="203.0.113.7", HTTP_USER_AGENT="Firefox")
    record_event(actor=None, action="test.from_a_task")

    stored = AuditEvent.objects.get(action="test.from_a_task")
    assert (stored.client_ip, stored.user_agent) == (None, "")


def test_an_ipv6_address_is_stored_and_hashed_in_its_short_form():
    token = context.bind(context.RequestContext(client_ip="2001:DB8:0:0:0:0:0:1", user_agent="curl/8.5.0"))
    try:
        record_event(actor=None, action="test.ipv6")
    finally:
        context.reset(token)

    assert AuditEvent.objects.get().client_ip == "2001:db8::1"
    assert verify_chain().ok


def test_an_address_that_is_not_an_ip_is_left_out_rather_than_failing_the_change():
    token = context.bind(context.RequestContext(client_ip="unknown", user_agent="x" * 1000))
    try:
        record_event(actor=None, action="test.odd_client")
    finally:
        context.reset(token)

    stored = AuditEvent.objects.get()
    assert stored.client_ip is None
    assert stored.user_agent == "x" * 400
    assert verify_chain().ok
