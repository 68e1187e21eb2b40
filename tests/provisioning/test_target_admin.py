"""Targets and grants in the Django admin: a target is added, changed and deleted only through
roles.provisioning.services (the same rules, the same audit events as the console); grants are
read-only, and the Retry action tries failed ones again through services.retry_grant.

Cast (tests/conftest.py): alice holds Exchange Administrator, dave holds nothing, pim_admin
administers PIM. The clock stands at START."""

from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.admin.models import DELETION, LogEntry
from django.urls import reverse
from pytest_django.asserts import assertContains, assertNotContains

from audit.models import AuditEvent
from roles.models import Role
from roles.provisioning import engine, kinds, services, tasks
from roles.provisioning.choices import GrantState
from roles.provisioning.django_group import GROUP_REQUIRED, DjangoGroupKind
from roles.provisioning.models import Grant, Target
from tests.conftest import verify_session
from tests.provisioning.conftest import give_active, members

pytestmark = pytest.mark.django_db

START = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)
TARGETS, GRANTS = reverse("admin:roles_target_changelist"), reverse("admin:roles_grant_changelist")


@pytest.fixture(autouse=True)
def clock(time_machine):
    """Stopped at START, before any fixture makes an assignment."""
    time_machine.move_to(START, tick=False)
    return time_machine


@pytest.fixture
def admin_client(client, pim_admin):
    """pim_admin, signed in with password and code: the admin is open to them."""
    verify_session(client, pim_admin)
    return client


def activate(user, role, capture):
    return give_active(user, role, capture=capture, hours=1)


def fail_grant(grant: Grant, monkeypatch) -> None:
    """Every attempt fails until the engine gives up on the grant (state failed)."""

    def refuse(self, access):
        raise kinds.ProvisioningError("directory service unavailable")

    with monkeypatch.context() as patch:
        patch.setattr(DjangoGroupKind, "grant", refuse)
        for hour in range(engine.MAX_ATTEMPTS):  # backoff never exceeds an hour
            engine.attempt(grant_id=grant.pk, now=START + timedelta(hours=hour))


def add_form(role, **changes) -> dict:
    data = {"role": role.pk, "name": "Mail admins group", "kind": "django_group",
            "params": '{"group": "mail-admins"}', "enabled": "on"}  # fmt: skip
    data.update(changes)
    return {key: value for key, value in data.items() if value is not None}


def change_form(**changes) -> dict:
    data = {"name": "Mail admins group", "params": '{"group": "mail-admins"}', "enabled": "on"}
    data.update(changes)
    return {key: value for key, value in data.items() if value is not None}


# Access ------------------------------------------------------------------------------------


def test_a_user_who_does_not_administer_pim_cannot_open_targets_or_grants(client, dave, mail_admins_target):
    verify_session(client, dave)

    for url in (TARGETS, GRANTS, reverse("admin:roles_target_change", args=[mail_admins_target.pk])):
        response = client.get(url, follow=True)
        assert response.redirect_chain[-1][0] == reverse("admin-refused")
        assertNotContains(response, "Mail admins group", status_code=403)


# Targets -----------------------------------------------------------------------------------


def test_the_target_list_shows_each_target_and_is_searchable_and_filterable(admin_client, mail_admins_target):
    billing = Role.objects.get(slug="billing-administrator")
    hook = {"url": "https://hooks.example.com/pim", "secret_variable": "PIM_HOOK_SECRET"}
    services.create_target(actor=None, role=billing, name="Billing hook", kind="webhook", params=hook)

    listed = admin_client.get(TARGETS)
    found = admin_client.get(TARGETS, {"q": "exchange"})
    by_kind = admin_client.get(TARGETS, {"kind": "webhook"})
    by_role = admin_client.get(TARGETS, {"role__id__exact": billing.pk})

    assertContains(listed, "Mail admins group")
    assertContains(listed, "Django group")
    assertContains(listed, "Billing hook")
    assertContains(found, "Mail admins group")
    assertNotContains(found, "Billing hook")
    assertContains(by_kind, "Billing hook")
    assertNotContains(by_kind, "Mail admins group")
    assertContains(by_role, "Billing hook")
    assertNotContains(by_role, "Mail admins group")


def test_adding_a_target_in_the_admin_goes_through_the_service(
    admin_client, pim_admin, exchange_admin, alice, django_capture_on_commit_callbacks
):
    activate(alice, exchange_admin, django_capture_on_commit_callbacks)

    response = admin_client.post(reverse("admin:roles_target_add"), add_form(exchange_admin), follow=True)

    assertContains(response, "was added successfully")
    target = Target.objects.get()
    assert (target.role, target.kind, target.params, target.enabled) == (
        exchange_admin, "django_group", {"group": "mail-admins"}, True)  # fmt: skip
    event = AuditEvent.objects.get(action="provisioning.target_created")
    assert (event.actor, event.data["target"]) == (pim_admin, "Mail admins group")
    assert Grant.objects.get().user == alice  # the service reconciled the current holders
    tasks.run_provisioning()
    assert members() == ["alice"]


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"params": "{group: mail-admins}"}, "params", "Parameters: not valid JSON: Expecting property name"),
        ({"params": "[]"}, "params", "Parameters: a JSON object such as"),
        ({"params": '{"group": ""}'}, "params", GROUP_REQUIRED.replace("'", "&#x27;")),
        ({"kind": "ftp"}, "kind", "Kind: &#x27;ftp&#x27; is not one of django_group, postgres_role, webhook."),
        ({"name": ""}, "name", services.NAME_REQUIRED),
        ({"name": "x" * 101}, "name", services.NAME_REQUIRED),
    ],
)
def test_bad_input_in_the_admin_is_named_beside_its_field_and_nothing_is_added(
    admin_client, exchange_admin, changes, field, message
):
    response = admin_client.post(reverse("admin:roles_target_add"), add_form(exchange_admin, **changes))

    assert response.status_code == 200
    assertContains(response, message)
    assert field in response.context["adminform"].form.errors
    assert not Target.objects.exists()
    assert not AuditEvent.objects.filter(action="provisioning.target_created").exists()


def test_a_name_the_role_already_uses_is_refused_in_the_admin(admin_client, mail_admins_target, exchange_admin):
    response = admin_client.post(reverse("admin:roles_target_add"), add_form(exchange_admin, params='{"group": "x"}'))

    assertContains(response, "Name: this role already has a target named &#x27;Mail admins group&#x27;.")
    assert Target.objects.count() == 1


def test_changing_a_target_in_the_admin_goes_through_the_service_and_keeps_role_and_kind(
    admin_client, pim_admin, mail_admins_target, exchange_admin, alice, django_capture_on_commit_callbacks
):
    activate(alice, exchange_admin, django_capture_on_commit_callbacks)
    tasks.run_provisioning()
    url = reverse("admin:roles_target_change", args=[mail_admins_target.pk])
    page = admin_client.get(url)
    assertContains(page, "On the role&#x27;s targets page")
    assertNotContains(page, 'name="kind"')
    assertNotContains(page, 'name="role"')

    response = admin_client.post(url, change_form(name="Mail admins", enabled=None, kind="webhook"), follow=True)

    assertContains(response, "was changed successfully")
    mail_admins_target.refresh_from_db()
    assert (mail_admins_target.name, mail_admins_target.kind, mail_admins_target.enabled) == (
        "Mail admins", "django_group", False)  # fmt: skip
    event = AuditEvent.objects.get(action="provisioning.target_updated")
    assert event.actor == pim_admin and event.data["changes"]["enabled"] == [True, False]
    assert Grant.objects.get().state == GrantState.REVOKING  # the service reconciled: off revokes
    tasks.run_provisioning()
    assert members() == []


def test_a_bad_change_in_the_admin_changes_nothing(admin_client, mail_admins_target):
    url = reverse("admin:roles_target_change", args=[mail_admins_target.pk])

    response = admin_client.post(url, change_form(params='{"group": 7}', name="Renamed"))

    assertContains(response, GROUP_REQUIRED.replace("'", "&#x27;"))
    mail_admins_target.refresh_from_db()
    assert (mail_admins_target.name, mail_admins_target.params) == ("Mail admins group", {"group": "mail-admins"})
    assert not AuditEvent.objects.filter(action="provisioning.target_updated").exists()


def test_deleting_a_target_with_grants_in_place_is_refused_in_the_admin(
    admin_client, mail_admins_target, exchange_admin, alice, django_capture_on_commit_callbacks
):
    activate(alice, exchange_admin, django_capture_on_commit_callbacks)
    tasks.run_provisioning()
    url = reverse("admin:roles_target_delete", args=[mail_admins_target.pk])

    response = admin_client.post(url, {"post": "yes"}, follow=True)

    assertContains(response, "Target &#x27;Mail admins group&#x27; still has 1 grant(s) not revoked.")
    assertNotContains(response, "was deleted successfully")
    assert Target.objects.filter(pk=mail_admins_target.pk).exists()
    assert not LogEntry.objects.filter(action_flag=DELETION).exists()  # nothing was deleted


def test_deleting_a_target_whose_grants_are_revoked_in_the_admin_goes_through_the_service(
    admin_client, pim_admin, mail_admins_target, exchange_admin, alice, django_capture_on_commit_callbacks
):
    activate(alice, exchange_admin, django_capture_on_commit_callbacks)
    tasks.run_provisioning()
    services.update_target(actor=pim_admin, target=mail_admins_target, name=mail_admins_target.name,
                           params=mail_admins_target.params, enabled=False, revoke_outside_grants=False)  # fmt: skip
    tasks.run_provisioning()
    url = reverse("admin:roles_target_delete", args=[mail_admins_target.pk])
    assertNotContains(admin_client.get(url), "permission to delete")  # its revoked grants go with it

    response = admin_client.post(url, {"post": "yes"}, follow=True)

    assertContains(response, "was deleted successfully")
    assert not Target.objects.exists() and not Grant.objects.exists()
    assert AuditEvent.objects.get(action="provisioning.target_deleted").actor == pim_admin
    assert LogEntry.objects.get(action_flag=DELETION).object_repr == "Mail admins group (Exchange Administrator)"


def test_the_target_list_offers_no_bulk_delete(admin_client, mail_admins_target):
    assertNotContains(admin_client.get(TARGETS), 'value="delete_selected"')


# Grants ------------------------------------------------------------------------------------


def test_grants_are_listed_read_only_and_found_by_user_state_kind_and_role(
    admin_client, mail_admins_target, exchange_admin, alice, bob, django_capture_on_commit_callbacks
):
    activate(alice, exchange_admin, django_capture_on_commit_callbacks)
    tasks.run_provisioning()
    activate(bob, exchange_admin, django_capture_on_commit_callbacks)
    grant = Grant.objects.get(user=alice)

    listed = admin_client.get(GRANTS)
    assertContains(listed, "Mail admins group")
    assertContains(listed, "Exchange Administrator")
    assertNotContains(listed, reverse("admin:roles_grant_add"))
    found = admin_client.get(GRANTS, {"q": "alice"})
    assertContains(
        found, f'href="{reverse("admin:roles_grant_change", args=[grant.pk])}?_changelist_filters=q%3Dalice"'
    )
    assertNotContains(found, ">bob<")
    assertNotContains(admin_client.get(GRANTS, {"state__exact": "granted"}), ">bob<")
    assertContains(admin_client.get(GRANTS, {"state__exact": "pending"}), ">bob<")
    assertContains(admin_client.get(GRANTS, {"target__kind": "django_group"}), ">alice<")
    assertNotContains(admin_client.get(GRANTS, {"target__kind": "webhook"}), ">alice<")
    assertContains(admin_client.get(GRANTS, {"target__role__id__exact": exchange_admin.pk}), ">alice<")
    change = admin_client.get(reverse("admin:roles_grant_change", args=[grant.pk]))
    assertNotContains(change, 'name="state"')
    assertNotContains(change, 'name="_save"')


def test_the_retry_action_retries_a_failed_grant_and_names_each_refusal(
    admin_client, pim_admin, mail_admins_target, exchange_admin, alice, bob, monkeypatch,
    django_capture_on_commit_callbacks,
):  # fmt: skip
    activate(alice, exchange_admin, django_capture_on_commit_callbacks)
    activate(bob, exchange_admin, django_capture_on_commit_callbacks)
    failed, granted = Grant.objects.get(user=alice), Grant.objects.get(user=bob)
    fail_grant(failed, monkeypatch)
    tasks.run_provisioning()  # bob's goes through
    assert Grant.objects.get(pk=failed.pk).state == GrantState.FAILED

    response = admin_client.post(GRANTS, {"action": "retry", "_selected_action": [failed.pk, granted.pk]}, follow=True)

    assertContains(response, "Retrying 1 grant(s) now.")
    # The admin capitalises each message.
    assertContains(response, "Bob on Mail admins group: " + services.NOT_RETRYABLE % {"state": "granted"})
    event = AuditEvent.objects.get(action="provisioning.retried")
    assert (event.actor, event.data["last_error"]) == (pim_admin, "directory service unavailable")
    tasks.run_provisioning()
    assert Grant.objects.get(pk=failed.pk).state == GrantState.GRANTED
    assert members() == ["alice", "bob"]


def test_the_admin_links_back_to_the_console(admin_client, mail_admins_target):
    page = admin_client.get(reverse("admin:roles_target_change", args=[mail_admins_target.pk]))

    url = reverse("manage:role-targets", args=[mail_admins_target.role.slug])
    assertContains(page, f'href="{url}#target-{mail_admins_target.pk}"')
