import pytest
from django.contrib.auth.models import Group

from roles.models import Role
from roles.provisioning import services


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
