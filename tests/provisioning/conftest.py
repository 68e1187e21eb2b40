from datetime import timedelta

import pytest
from django.contrib.auth.models import Group
from django.utils import timezone

from roles import services as role_services
from roles.models import ActiveAssignment, Role
from roles.provisioning import services
from tests.factories import root_scope


@pytest.fixture
def exchange_admin(db):
    return Role.objects.get(slug="exchange-administrator")


@pytest.fixture
def mail_admins_target(pim_admin, exchange_admin):
    """Exchange Administrator provisions membership of the Django group "mail-admins"."""
    return services.create_target(
        actor=pim_admin,
        role=exchange_admin,
        name="Mail admins group",
        kind="django_group",
        params={"group": "mail-admins"},
    )


def members(name: str = "mail-admins") -> list[str]:
    group = Group.objects.filter(name=name).first()
    return sorted(group.user_set.values_list("username", flat=True)) if group else []


def give_active(principal, role, *, capture, hours: float = 24) -> ActiveAssignment:
    """An administrator gives `principal` (a user or a group) `role` at '/' from now for `hours`,
    with the commit hooks run (`capture`: django_capture_on_commit_callbacks), so provisioning
    makes its grant rows as in production; `run_provisioning()` then carries them out."""
    with capture(execute=True):
        return role_services.assign_active(actor=None, principal=principal, role=role, scope=root_scope(),
                                           start_at=timezone.now(), end_at=timezone.now() + timedelta(hours=hours),
                                           justification="INC-4711")  # fmt: skip
