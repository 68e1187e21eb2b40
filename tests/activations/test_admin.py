"""Requests and decisions are visible in the admin and move only through the workflow."""

import pytest
from django.urls import reverse
from django.utils import timezone
from pytest_django.asserts import assertContains

from activations.choices import Decision
from activations.models import ActivationRequest, Approval
from roles.models import Role
from tests.conftest import verify_session
from tests.factories import EligibleAssignmentFactory


@pytest.fixture
def admin_client(client, pim_admin):
    verify_session(client, pim_admin)
    return client


@pytest.fixture
def decided_request(alice, bob):
    eligibility = EligibleAssignmentFactory(principal=alice, role=Role.objects.get(slug="exchange-administrator"))
    request = ActivationRequest.objects.create(
        requester=alice, eligibility=eligibility, role=eligibility.role, scope=eligibility.scope,
        start_at=timezone.now(), duration_minutes=60, justification="INC-4711 mailbox restore",
    )  # fmt: skip
    Approval.objects.create(request=request, approver=bob, decision=Decision.APPROVE, justification="Checked INC-4711")
    return request


def test_the_request_list_shows_requests_to_a_pim_administrator(admin_client, decided_request):
    response = admin_client.get(reverse("admin:activations_activationrequest_changelist"))

    assertContains(response, "Exchange Administrator")
    assertContains(response, "alice")


def test_a_request_page_shows_the_approvers_decisions_read_only(admin_client, decided_request):
    response = admin_client.get(reverse("admin:activations_activationrequest_change", args=[decided_request.pk]))

    assertContains(response, "INC-4711 mailbox restore")
    assertContains(response, "Checked INC-4711")
    assert 'name="_save"' not in response.content.decode()


def test_the_approval_list_loads(admin_client, decided_request):
    response = admin_client.get(reverse("admin:activations_approval_changelist"))

    assertContains(response, "bob")


@pytest.mark.parametrize("model", ["activationrequest", "approval"])
def test_requests_and_decisions_cannot_be_added_changed_or_deleted_in_the_admin(admin_client, decided_request, model):
    obj = decided_request if model == "activationrequest" else decided_request.approvals.get()

    assert admin_client.get(reverse(f"admin:activations_{model}_add")).status_code == 403
    assert admin_client.post(reverse(f"admin:activations_{model}_change", args=[obj.pk]), {}).status_code == 403
    assert (
        admin_client.post(reverse(f"admin:activations_{model}_delete", args=[obj.pk]), {"post": "yes"}).status_code
        == 403
    )
    assert ActivationRequest.objects.count() == 1
    assert Approval.objects.count() == 1


# session, user, OTP device, PIM admin check (site), Django user and group permissions,
# PIM admin check (permission backend), roles for the filter, two counts, the rows.
REQUEST_LIST_QUERIES = 11
ROLE_SLUGS = ["exchange-administrator", "user-administrator", "security-reader", "billing-administrator",
              "helpdesk-administrator", "application-administrator", "security-administrator"]  # fmt: skip


@pytest.mark.parametrize("n_requests", [1, len(ROLE_SLUGS)])
def test_the_request_list_query_count_does_not_grow_with_the_rows(
    admin_client, alice, n_requests, django_assert_max_num_queries
):
    for slug in ROLE_SLUGS[:n_requests]:
        eligibility = EligibleAssignmentFactory(principal=alice, role=Role.objects.get(slug=slug))
        ActivationRequest.objects.create(
            requester=alice, eligibility=eligibility, role=eligibility.role, scope=eligibility.scope,
            start_at=timezone.now(), duration_minutes=60,
        )  # fmt: skip

    with django_assert_max_num_queries(REQUEST_LIST_QUERIES):
        response = admin_client.get(reverse("admin:activations_activationrequest_changelist"))

    assert response.status_code == 200
