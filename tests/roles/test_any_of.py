"""`pk__any_of`: the rows whose column is one of the given values, one array parameter on
PostgreSQL (the sweep updates 2,000 ids at a time with it), IN elsewhere."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from roles.models import Role
from tests.factories import RoleFactory

pytestmark = pytest.mark.django_db


def test_any_of_finds_exactly_the_rows_named():
    first, _, third = RoleFactory.create_batch(3)

    assert set(Role.objects.filter(pk__any_of=[first.pk, third.pk])) == {first, third}
    assert list(Role.objects.filter(pk__any_of=[])) == []
    assert Role.objects.filter(pk__any_of=[third.pk]).update(description="chosen") == 1


@pytest.mark.postgres
def test_on_postgresql_the_values_are_one_array_parameter():
    roles = RoleFactory.create_batch(5)

    with CaptureQueriesContext(connection) as captured:
        assert len(Role.objects.filter(pk__any_of=[role.pk for role in roles])) == 5

    assert '"roles_role"."id" = ANY(' in captured[0]["sql"]
