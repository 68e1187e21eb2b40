"""A role can require ticket numbers of a given shape (a regular expression)."""

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError

from activations.models import ActivationRequest
from roles.models import RoleSettings
from roles.services import update_role_settings
from tests.activations.helpers import activate
from tests.factories import EligibleAssignmentFactory


@pytest.fixture
def eligibility(alice, exchange_admin, clock):
    RoleSettings.objects.filter(role=exchange_admin).update(
        require_ticket_on_activation=True, ticket_number_pattern=r"INC-\d{4,}"
    )
    return EligibleAssignmentFactory(principal=alice, role=exchange_admin)


def test_a_ticket_number_of_the_wrong_shape_is_refused_with_the_pattern(alice, eligibility):
    with pytest.raises(ValidationError) as refused:
        activate(alice, eligibility, ticket_system="ServiceNow", ticket_number="42")

    assert refused.value.message_dict["ticket_number"] == [
        r"Exchange Administrator needs a ticket number matching INC-\d{4,}; 42 does not match."
    ]
    assert not ActivationRequest.objects.exists()


def test_a_ticket_number_of_the_right_shape_activates(alice, eligibility):
    [request] = activate(
        alice, eligibility, ticket_system="ServiceNow", ticket_number="INC-20261", duration=timedelta(hours=1)
    )

    assert (request.ticket_system, request.ticket_number) == ("ServiceNow", "INC-20261")


def test_an_invalid_pattern_is_refused_when_saving_the_settings_and_nothing_changes(pim_admin, exchange_admin):
    with pytest.raises(ValidationError) as refused:
        update_role_settings(actor=pim_admin, role=exchange_admin, changes={"ticket_number_pattern": "INC-(\\d+"})

    assert "not a valid regular expression" in refused.value.message_dict["ticket_number_pattern"][0]
    assert RoleSettings.objects.get(role=exchange_admin).ticket_number_pattern == ""
