"""Property-based tests of the API against its own OpenAPI schema (schemathesis): whatever a
client sends, shaped by the schema or not, the answer is never a server error. Runs in-process
against the WSGI application, as a PIM administrator with a token, on the test database."""

import pytest
import schemathesis
from django.core.cache import cache
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from drf_spectacular.generators import SchemaGenerator
from hypothesis import HealthCheck, settings

from roles.models import Role
from tests.api.conftest import api_client
from tests.factories import EligibleAssignmentFactory

# The schema as /api/schema/ serves it, built without a request (it does not depend on one).
schema = schemathesis.openapi.from_dict(SchemaGenerator().get_schema(request=None, public=True))


@pytest.fixture
def token(db, pim_admin, alice):
    """A PIM administrator's token, and something for the generated requests to find."""
    EligibleAssignmentFactory(principal=alice, role=Role.objects.get(slug="exchange-administrator"))
    client = api_client(pim_admin)
    return client._credentials["HTTP_AUTHORIZATION"]


@pytest.fixture
def application():
    """The WSGI application, as Django's test client runs it: without closing the database
    connection at the end of each request, which would end the test's transaction."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield get_wsgi_application()
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@schema.parametrize()
@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_input_makes_a_server_error(case, token, application):
    cache.clear()  # throttles count per test; a fuzzer would hit them at once
    response = case.call(app=application, headers={"Authorization": token})
    assert response.status_code < 500, f"{case.method} {case.formatted_path} {case.body!r}: {response.text[:500]}"
