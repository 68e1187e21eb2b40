"""A role's provisioning targets in the /manage/ console: who may open the pages, what the targets
page shows (parameters, counts, drift, every grant), adding, editing and deleting a target, and
the Retry and Check drift now buttons. Every change goes through roles.provisioning.services.

Cast (tests/conftest.py): alice and bob hold Exchange Administrator in an active assignment,
carol is put into the provisioned group behind PIM's back, dave holds nothing, pim_admin
administers PIM. The clock stands at START (tests/manage/conftest.py)."""

from datetime import timedelta

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse
from pytest_django.asserts import assertContains, assertNotContains, assertRedirects

from audit.models import AuditEvent
from roles import services as role_services
from roles.models import Role
from roles.permissions import NEEDS_ACTIVE_ADMIN_ROLE
from roles.provisioning import engine, kinds, services, tasks
from roles.provisioning.choices import GrantState
from roles.provisioning.django_group import GROUP_REQUIRED, DjangoGroupKind
from roles.provisioning.forms import KIND_REQUIRED
from roles.provisioning.models import Grant, Target
from roles.provisioning.webhook import WebhookKind
from roles.views import targets as target_views
from tests.conftest import make_user, verify_session
from tests.manage.conftest import START
from tests.provisioning.conftest import give_active

pytestmark = pytest.mark.django_db

KIND_KEYS = "django_group, postgres_role, webhook"
HOOK_PARAMS = {"url": "https://hooks.example.com/pim", "secret_variable": "PIM_HOOK_SECRET"}  # no list_url


@pytest.fixture
def exchange_admin(db) -> Role:
    return Role.objects.get(slug="exchange-administrator")


@pytest.fixture
def mail_target(clock, pim_admin, exchange_admin) -> Target:
    """Exchange Administrator provisions membership of the Django group "mail-admins"."""
    return services.create_target(actor=pim_admin, role=exchange_admin, name="Mail admins group",
                                  kind="django_group", params={"group": "mail-admins"})  # fmt: skip


def activate(user, role, capture, *, hours: int = 1):
    """An active assignment from now, with its commit hooks run (the grant rows are made)."""
    return give_active(user, role, capture=capture, hours=hours)


def fail_grant(grant: Grant, monkeypatch, *, error: str = "directory service unavailable") -> None:
    """Every attempt at `grant` fails until the engine gives up (state failed, administrators told)."""

    def refuse(self, access):
        raise kinds.ProvisioningError(error)

    with monkeypatch.context() as patch:
        patch.setattr(DjangoGroupKind, "grant", refuse)
        for hour in range(engine.MAX_ATTEMPTS):  # backoff never exceeds an hour
            engine.attempt(grant_id=grant.pk, now=START + timedelta(hours=hour))
    grant.refresh_from_db()
    assert grant.state == GrantState.FAILED


def targets_url(role) -> str:
    return reverse("manage:role-targets", args=[role.slug])


def target_url(name: str, target: Target, *extra) -> str:
    return reverse(f"manage:{name}", args=[target.role.slug, target.pk, *extra])


def members(name: str = "mail-admins") -> list[str]:
    group = Group.objects.filter(name=name).first()
    return sorted(group.user_set.values_list("username", flat=True)) if group else []


def form_data(**changes) -> dict:
    data = {"name": "Mail admins group", "kind": "django_group", "params": '{"group": "mail-admins"}',
            "enabled": "on"}  # fmt: skip
    data.update(changes)
    return {key: value for key, value in data.items() if value is not None}


# Access ---------------------------------------------------------------------------------


def test_anonymous_visitor_is_sent_to_sign_in(client, exchange_admin):
    # Rung 1: nobody signed in.
    response = client.get(targets_url(exchange_admin))

    assert response.status_code == 302
    assert response.url.startswith(reverse("accounts:login"))


def test_every_page_and_button_is_refused_to_a_user_who_does_not_administer_pim(
    client, dave, mail_target, alice, django_capture_on_commit_callbacks
):
    # Rung 2: signed in with a code, holds no administrator role.
    activate(alice, mail_target.role, django_capture_on_commit_callbacks)
    grant = Grant.objects.get()
    verify_session(client, dave)

    pages = [targets_url(mail_target.role), reverse("manage:target-create", args=[mail_target.role.slug]),
             target_url("target-edit", mail_target)]  # fmt: skip
    buttons = [target_url("target-delete", mail_target), target_url("target-check-drift", mail_target),
               target_url("grant-retry", mail_target, grant.pk), target_url("target-edit", mail_target),
               reverse("manage:target-create", args=[mail_target.role.slug])]  # fmt: skip

    for url in pages:
        assertContains(client.get(url), NEEDS_ACTIVE_ADMIN_ROLE.split(":")[0], status_code=403)
    for url in buttons:
        assert client.post(url, form_data(name="Taken over")).status_code == 403
    assert Target.objects.get().name == "Mail admins group"
    assert not AuditEvent.objects.filter(action__in=["provisioning.retried", "provisioning.drift_checked"]).exists()


def test_an_unknown_role_target_or_grant_is_not_found(manager_client, mail_target, exchange_admin, alice, clock,
                                                      django_capture_on_commit_callbacks):  # fmt: skip
    # Rung 3: the administrator, asking for what does not exist here.
    activate(alice, exchange_admin, django_capture_on_commit_callbacks)
    grant = Grant.objects.get()
    billing = Role.objects.get(slug="billing-administrator")
    other = services.create_target(actor=None, role=billing, name="Billing group", kind="django_group",
                                   params={"group": "billing"})  # fmt: skip
    missing = mail_target.pk + other.pk + 100

    assert manager_client.get(reverse("manage:role-targets", args=["no-such-role"])).status_code == 404
    assert manager_client.get(reverse("manage:target-create", args=["no-such-role"])).status_code == 404
    for name in ("target-edit", "target-delete", "target-check-drift"):
        method = manager_client.get if name == "target-edit" else manager_client.post
        # A target of another role, under this role's address; and an id nobody has.
        assert method(reverse(f"manage:{name}", args=[exchange_admin.slug, other.pk])).status_code == 404
        assert method(reverse(f"manage:{name}", args=[exchange_admin.slug, missing])).status_code == 404
    # A grant of another target.
    assert manager_client.post(target_url("grant-retry", other, grant.pk)).status_code == 404
    assert Target.objects.count() == 2


def test_buttons_answer_only_post(manager_client, mail_target):
    for name in ("target-delete", "target-check-drift"):
        assert manager_client.get(target_url(name, mail_target)).status_code == 405
    assert Target.objects.filter(pk=mail_target.pk).exists()


# The targets page --------------------------------------------------------------------------


def test_the_role_page_links_to_its_targets(manager_client, exchange_admin):
    response = manager_client.get(reverse("manage:role-edit", args=[exchange_admin.slug]))

    assertContains(
        response, f'<a href="{targets_url(exchange_admin)}">Provisioning targets of Exchange Administrator</a>'
    )


def test_a_role_without_targets_says_so_and_offers_to_add_one(manager_client, exchange_admin):
    response = manager_client.get(targets_url(exchange_admin))

    assertContains(response, "Exchange Administrator has no targets")
    assertContains(response, f'href="{reverse("manage:target-create", args=[exchange_admin.slug])}"')
    assertContains(
        response, f'<a href="{reverse("manage:role-edit", args=[exchange_admin.slug])}">← Exchange Administrator</a>'
    )


def test_the_page_shows_each_target_its_counts_and_every_grant_with_its_times(
    manager_client, mail_target, exchange_admin, alice, bob, clock, django_capture_on_commit_callbacks
):
    activate(alice, exchange_admin, django_capture_on_commit_callbacks)
    clock.move_to(START + timedelta(seconds=4), tick=False)
    tasks.run_provisioning()  # alice granted 4 s after she asked
    activate(bob, exchange_admin, django_capture_on_commit_callbacks)  # bob still pending

    response = manager_client.get(targets_url(exchange_admin))

    assertContains(response, "Mail admins group")
    assertContains(response, "<dt>Kind</dt><dd>Django group</dd>", html=True)
    assertContains(response, "<li><code>group</code>: mail-admins</li>", html=True)
    assertContains(response, "On: holders are granted access")
    assertContains(response, "No: the drift check raises an alert only")
    assertContains(response, "<li>Granted: 1</li>", html=True)
    assertContains(response, "<li>Pending: 1</li>", html=True)
    assertContains(response, "<li>Failed: 0</li>", html=True)
    assertContains(response, "<li>Revoking: 0</li>", html=True)
    assertContains(response, "Never checked.")
    alice_row = _row(response, Grant.objects.get(user=alice))
    assert "alice" in alice_row and "status-grant-granted" in alice_row and ">Granted<" in alice_row
    assert "2026-11-22 09:00 UTC" in alice_row  # requested, and granted 4 s later
    assert "<td>4 s</td>" in alice_row
    bob_row = _row(response, Grant.objects.get(user=bob))
    assert ">Pending<" in bob_row and "<td>—</td>" in bob_row
    assert "Retry" not in alice_row + bob_row
    assertContains(response, "Check drift now")
    assertContains(response, f'href="{target_url("target-edit", mail_target)}"')
    assertContains(response, f'action="{target_url("target-delete", mail_target)}"')


def _row(response, grant: Grant) -> str:
    """The table row of one grant, as HTML."""
    html = response.content.decode()
    start = html.index(f'<tr id="grant-{grant.pk}">')
    return html[start : html.index("</tr>", start)]


def test_a_revoked_grant_shows_when_it_was_revoked(
    manager_client, mail_target, exchange_admin, alice, pim_admin, clock, django_capture_on_commit_callbacks
):
    assignment = activate(alice, exchange_admin, django_capture_on_commit_callbacks)
    tasks.run_provisioning()
    clock.move_to(START + timedelta(minutes=30), tick=False)
    with django_capture_on_commit_callbacks(execute=True):
        role_services.remove_assignment(actor=pim_admin, assignment=assignment)
    tasks.run_provisioning()

    row = _row(manager_client.get(targets_url(exchange_admin)), Grant.objects.get())

    assert ">Revoked<" in row and "status-grant-revoked" in row
    assert "2026-11-22 09:30 UTC" in row


def test_only_the_newest_revoked_grants_are_listed(
    manager_client, mail_target, exchange_admin, alice, pim_admin, clock, monkeypatch,
    django_capture_on_commit_callbacks,
):  # fmt: skip
    monkeypatch.setattr(target_views, "REVOKED_SHOWN", 1)
    for minutes in (10, 20):  # alice holds the role twice, and each holding is revoked
        assignment = activate(alice, exchange_admin, django_capture_on_commit_callbacks)
        tasks.run_provisioning()
        clock.move_to(START + timedelta(minutes=minutes), tick=False)
        with django_capture_on_commit_callbacks(execute=True):
            role_services.remove_assignment(actor=pim_admin, assignment=assignment)
        tasks.run_provisioning()
    older, newer = Grant.objects.order_by("pk")

    response = manager_client.get(targets_url(exchange_admin))

    assertContains(response, f'<tr id="grant-{newer.pk}">')
    assertNotContains(response, f'<tr id="grant-{older.pk}">')
    assertContains(response, "Grants on Mail admins group (the newest revoked ones only)")


def test_parameters_show_variable_names_never_the_secrets_they_hold(manager_client, exchange_admin, monkeypatch):
    monkeypatch.setenv("PIM_HOOK_SECRET", "s3cr3t-signing-key")
    services.create_target(actor=None, role=exchange_admin, name="Mail hook", kind="webhook",
                           params=HOOK_PARAMS)  # fmt: skip

    response = manager_client.get(targets_url(exchange_admin))

    assertContains(response, "<li><code>secret_variable</code>: PIM_HOOK_SECRET</li>", html=True)
    assertContains(response, "<li><code>url</code>: https://hooks.example.com/pim</li>", html=True)
    assertContains(response, "<li><code>list_url</code>: —</li>", html=True)
    assertNotContains(response, "s3cr3t-signing-key")
    # Without a list_url the webhook cannot say who holds the role: the page says so.
    assertContains(response, "Not checked: this target cannot list who holds the role there, so drift is not checked.")


def test_errors_and_logins_from_a_target_are_shown_escaped(
    manager_client, mail_target, exchange_admin, alice, monkeypatch, django_capture_on_commit_callbacks
):
    activate(alice, exchange_admin, django_capture_on_commit_callbacks)
    fail_grant(Grant.objects.get(), monkeypatch, error="<script>alert(1)</script> refused")
    Target.objects.filter(pk=mail_target.pk).update(drift_checked_at=START, outside_grants=["<b>mallory</b>"])

    response = manager_client.get(targets_url(exchange_admin))

    assertContains(response, "&lt;script&gt;alert(1)&lt;/script&gt; refused")
    assertContains(response, "<li>&lt;b&gt;mallory&lt;/b&gt;</li>")
    assertNotContains(response, "<script>alert(1)")
    assertNotContains(response, "<b>mallory</b>")


TARGETS_PAGE_QUERIES = 9  # session, user, OTP device, administrator?, open alerts, role, targets, live, revoked grants


@pytest.mark.parametrize("count", [1, 6])
def test_the_targets_page_query_count_does_not_grow(
    manager_client, exchange_admin, count, django_assert_num_queries, django_capture_on_commit_callbacks
):
    for number in range(count):
        services.create_target(actor=None, role=exchange_admin, name=f"Group {number}", kind="django_group",
                               params={"group": f"group-{number}"})  # fmt: skip
    for number in range(count):
        activate(make_user(f"holder{number}"), exchange_admin, django_capture_on_commit_callbacks)
    tasks.run_provisioning()
    assert Grant.objects.filter(state=GrantState.GRANTED).count() == count * count

    with django_assert_num_queries(TARGETS_PAGE_QUERIES):
        response = manager_client.get(targets_url(exchange_admin))

    assert len(response.context["panels"]) == count
    assert all(len(panel.grants) == count for panel in response.context["panels"])


# Add ---------------------------------------------------------------------------------------


def test_the_add_page_shows_every_kinds_example(manager_client, exchange_admin):
    response = manager_client.get(reverse("manage:target-create", args=[exchange_admin.slug]))

    for kind in (DjangoGroupKind, WebhookKind):
        assertContains(response, f"<code>{kind.params_help}</code>", html=True)
    assertContains(response, "PIM_REPORTING_DB")
    assertContains(response, '<option value="django_group">Django group</option>', html=True)
    assertContains(response, '<option value="postgres_role">PostgreSQL role</option>', html=True)
    assertContains(response, '<option value="webhook">Webhook</option>', html=True)


def test_adding_a_target_grants_the_current_holders_and_audits_it(
    manager_client, exchange_admin, alice, pim_admin, django_capture_on_commit_callbacks
):
    activate(alice, exchange_admin, django_capture_on_commit_callbacks)

    response = manager_client.post(reverse("manage:target-create", args=[exchange_admin.slug]), form_data(),
                                   follow=True)  # fmt: skip

    assertRedirects(response, targets_url(exchange_admin))
    assertContains(response, "Target Mail admins group added to Exchange Administrator.")
    target = Target.objects.get()
    assert (target.kind, target.params, target.enabled, target.revoke_outside_grants) == (
        "django_group", {"group": "mail-admins"}, True, False)  # fmt: skip
    assertContains(response, "<li>Pending: 1</li>", html=True)
    assert AuditEvent.objects.get(action="provisioning.target_created").actor == pim_admin
    tasks.run_provisioning()
    assert members() == ["alice"]


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ('{"group": "mail-admins"', "Parameters: not valid JSON: Expecting &#x27;,&#x27; delimiter at line 1"),
        ("{'group': 'mail-admins'}", "Parameters: not valid JSON: Expecting property name enclosed in double quotes"),
        ('["mail-admins"]', "Parameters: a JSON object such as {&quot;key&quot;: &quot;value&quot;} is expected, "
                            "not a list."),
        ('{"group": ""}', GROUP_REQUIRED.replace("'", "&#x27;")),  # the kind's rule, from the service
        ("", GROUP_REQUIRED.replace("'", "&#x27;")),
    ],
)  # fmt: skip
def test_bad_parameters_are_named_beside_the_field_and_nothing_is_saved(manager_client, exchange_admin, params,
                                                                        message):  # fmt: skip
    response = manager_client.post(reverse("manage:target-create", args=[exchange_admin.slug]),
                                   form_data(params=params))  # fmt: skip

    assert response.status_code == 200
    assertContains(response, message)
    assert response.context["form"].errors["params"]
    assert not Target.objects.exists()
    assert not AuditEvent.objects.filter(action="provisioning.target_created").exists()


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"name": ""}, "name", services.NAME_REQUIRED),
        ({"name": "   "}, "name", services.NAME_REQUIRED),
        ({"name": "x" * 101}, "name", services.NAME_REQUIRED),
        ({"kind": None}, "kind", KIND_REQUIRED % {"choices": KIND_KEYS}),
        ({"kind": "ftp"}, "kind", f"Kind: &#x27;ftp&#x27; is not one of {KIND_KEYS}."),
    ],
)
def test_a_bad_name_or_kind_is_named_beside_its_field_and_nothing_is_saved(
    manager_client, exchange_admin, changes, field, message
):
    response = manager_client.post(reverse("manage:target-create", args=[exchange_admin.slug]), form_data(**changes))

    assertContains(response, message)
    assert list(response.context["form"].errors) == [field]
    assert not Target.objects.exists()


def test_a_name_the_role_already_uses_is_refused_by_the_service_beside_the_name(manager_client, mail_target):
    response = manager_client.post(reverse("manage:target-create", args=[mail_target.role.slug]),
                                   form_data(params='{"group": "other"}'))  # fmt: skip

    assertContains(response, "Name: this role already has a target named &#x27;Mail admins group&#x27;.")
    assert response.context["form"].errors["name"]
    assert Target.objects.count() == 1


# Edit --------------------------------------------------------------------------------------


def test_the_edit_page_shows_the_kind_fixed_its_example_and_the_saved_parameters(manager_client, mail_target):
    response = manager_client.get(target_url("target-edit", mail_target))

    assertContains(response, "Django group")
    assertContains(response, "(fixed once the target is made)")
    assertNotContains(response, 'name="kind"')
    assertContains(response, f"<code>{DjangoGroupKind.params_help}</code>", html=True)
    assertNotContains(response, WebhookKind.params_help.replace('"', "&quot;"))
    assertContains(response, "{\n  &quot;group&quot;: &quot;mail-admins&quot;\n}")
    assertContains(response, 'value="Mail admins group"')


def test_turning_a_target_off_saves_it_revokes_its_grants_and_audits_the_change(
    manager_client, mail_target, exchange_admin, alice, pim_admin, django_capture_on_commit_callbacks
):
    activate(alice, exchange_admin, django_capture_on_commit_callbacks)
    tasks.run_provisioning()
    assert members() == ["alice"]

    response = manager_client.post(target_url("target-edit", mail_target),
                                   form_data(name="Mail admins", kind="webhook", enabled=None,
                                             revoke_outside_grants="on"), follow=True)  # fmt: skip

    assertRedirects(response, targets_url(exchange_admin))
    assertContains(response, "Target Mail admins saved.")
    assertContains(response, "Off: nothing is granted")
    assertContains(response, "Yes: the drift check revokes them")
    assertContains(response, "<li>Revoking: 1</li>", html=True)
    mail_target.refresh_from_db()
    assert (mail_target.name, mail_target.kind, mail_target.enabled) == ("Mail admins", "django_group", False)
    event = AuditEvent.objects.get(action="provisioning.target_updated")
    assert event.actor == pim_admin and event.data["changes"]["enabled"] == [True, False]
    tasks.run_provisioning()
    assert members() == []


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"params": "{group: mail}"}, "params", "Parameters: not valid JSON"),
        ({"params": '{"group": 7}'}, "params", GROUP_REQUIRED.replace("'", "&#x27;")),
        ({"name": ""}, "name", services.NAME_REQUIRED),
    ],
)
def test_a_bad_edit_is_named_beside_its_field_and_changes_nothing(manager_client, mail_target, changes, field,
                                                                  message):  # fmt: skip
    response = manager_client.post(target_url("target-edit", mail_target), form_data(**changes, enabled=None))

    assertContains(response, message)
    assert list(response.context["form"].errors) == [field]
    mail_target.refresh_from_db()
    assert (mail_target.name, mail_target.params, mail_target.enabled) == (
        "Mail admins group", {"group": "mail-admins"}, True)  # fmt: skip
    assert not AuditEvent.objects.filter(action="provisioning.target_updated").exists()


def test_renaming_to_another_targets_name_is_refused_beside_the_name(manager_client, mail_target):
    services.create_target(actor=None, role=mail_target.role, name="Journal group", kind="django_group",
                           params={"group": "journal"})  # fmt: skip

    response = manager_client.post(target_url("target-edit", mail_target), form_data(name="Journal group"))

    assertContains(response, "Name: this role already has a target named &#x27;Journal group&#x27;.")
    assert response.context["form"].errors["name"]
    assert Target.objects.get(pk=mail_target.pk).name == "Mail admins group"


# Delete ------------------------------------------------------------------------------------


def test_deleting_a_target_with_grants_in_place_is_refused_with_the_reason(
    manager_client, mail_target, exchange_admin, alice, django_capture_on_commit_callbacks
):
    activate(alice, exchange_admin, django_capture_on_commit_callbacks)
    tasks.run_provisioning()

    response = manager_client.post(target_url("target-delete", mail_target), follow=True)

    assertRedirects(response, targets_url(exchange_admin))
    assertContains(response, "Target &#x27;Mail admins group&#x27; still has 1 grant(s) not revoked. Turn it off first")
    assert Target.objects.filter(pk=mail_target.pk).exists()
    assert members() == ["alice"]


def test_deleting_a_target_whose_grants_are_revoked_removes_it(
    manager_client, mail_target, exchange_admin, alice, pim_admin, django_capture_on_commit_callbacks
):
    activate(alice, exchange_admin, django_capture_on_commit_callbacks)
    tasks.run_provisioning()
    services.update_target(actor=pim_admin, target=mail_target, name=mail_target.name, params=mail_target.params,
                           enabled=False, revoke_outside_grants=False)  # fmt: skip
    tasks.run_provisioning()

    response = manager_client.post(target_url("target-delete", mail_target), follow=True)

    assertContains(response, "Target Mail admins group deleted.")
    assertContains(response, "Exchange Administrator has no targets")
    assert not Target.objects.exists() and not Grant.objects.exists()
    assert AuditEvent.objects.get(action="provisioning.target_deleted").actor == pim_admin


# Retry -------------------------------------------------------------------------------------


def test_retrying_a_failed_grant_from_the_page_grants_it_on_the_next_run(
    manager_client, mail_target, exchange_admin, alice, pim_admin, monkeypatch, django_capture_on_commit_callbacks
):
    activate(alice, exchange_admin, django_capture_on_commit_callbacks)
    grant = Grant.objects.get()
    fail_grant(grant, monkeypatch)
    page = manager_client.get(targets_url(exchange_admin))
    row = _row(page, grant)
    assert ">Failed<" in row and "directory service unavailable" in row and f"<td>{engine.MAX_ATTEMPTS}</td>" in row
    assertContains(page, "<li>Failed: 1</li>", html=True)
    assert f'action="{target_url("grant-retry", mail_target, grant.pk)}"' in row

    response = manager_client.post(target_url("grant-retry", mail_target, grant.pk), follow=True)

    assertContains(response, "Retrying alice on Mail admins group now.")
    assert ">Pending<" in _row(response, grant)
    assert AuditEvent.objects.get(action="provisioning.retried").actor == pim_admin
    tasks.run_provisioning()
    assert ">Granted<" in _row(manager_client.get(targets_url(exchange_admin)), grant)
    assert members() == ["alice"]


def test_a_revoke_that_keeps_failing_offers_retry_and_one_that_has_not_failed_does_not(
    manager_client, mail_target, exchange_admin, alice, bob, pim_admin, monkeypatch, django_capture_on_commit_callbacks
):
    for user in (alice, bob):
        activate(user, exchange_admin, django_capture_on_commit_callbacks)
    tasks.run_provisioning()
    services.update_target(actor=pim_admin, target=mail_target, name=mail_target.name, params=mail_target.params,
                           enabled=False, revoke_outside_grants=False)  # fmt: skip
    alices = Grant.objects.get(user=alice)

    def refuse(self, access):
        raise kinds.ProvisioningError("group is locked")

    monkeypatch.setattr(DjangoGroupKind, "revoke", refuse)
    engine.attempt(grant_id=alices.pk, now=START)

    page = manager_client.get(targets_url(exchange_admin))

    alice_row, bob_row = _row(page, alices), _row(page, Grant.objects.get(user=bob))
    assert ">Revoking<" in alice_row and "group is locked" in alice_row and "Retry" in alice_row
    assert ">Revoking<" in bob_row and "Retry" not in bob_row


def test_retrying_a_granted_grant_is_refused_with_the_reason(
    manager_client, mail_target, exchange_admin, alice, django_capture_on_commit_callbacks
):
    activate(alice, exchange_admin, django_capture_on_commit_callbacks)
    tasks.run_provisioning()
    grant = Grant.objects.get()

    response = manager_client.post(target_url("grant-retry", mail_target, grant.pk), follow=True)

    assertContains(response, services.NOT_RETRYABLE % {"state": "granted"})
    assert Grant.objects.get().state == GrantState.GRANTED
    assert not AuditEvent.objects.filter(action="provisioning.retried").exists()


# Check drift now ---------------------------------------------------------------------------


def test_checking_drift_lists_a_grant_made_outside_pim_on_the_page(
    manager_client, mail_target, exchange_admin, alice, carol, pim_admin, django_capture_on_commit_callbacks
):
    activate(alice, exchange_admin, django_capture_on_commit_callbacks)
    tasks.run_provisioning()
    Group.objects.get(name="mail-admins").user_set.add(carol)  # behind PIM's back

    response = manager_client.post(target_url("target-check-drift", mail_target), follow=True)

    assertRedirects(response, targets_url(exchange_admin))
    assertContains(response, "Drift of Mail admins group checked. Grants outside PIM: carol")
    assertContains(response, "1 grant outside PIM:")
    assertContains(response, '<ul class="target-outside"><li>carol</li></ul>', html=True)
    assertContains(response, "2026-11-22 09:00 UTC")
    event = AuditEvent.objects.get(action="provisioning.drift_checked")
    assert (event.actor, event.data["outside_grants"]) == (pim_admin, ["carol"])
    assert members() == ["alice", "carol"]  # off: an alert only


@pytest.fixture
def carol_outside(mail_target, pim_admin, carol):
    """The mail target revokes outside grants; carol is in its group behind PIM's back."""
    services.update_target(actor=pim_admin, target=mail_target, name=mail_target.name, params=mail_target.params,
                           enabled=True, revoke_outside_grants=True)  # fmt: skip
    Group.objects.get_or_create(name="mail-admins")[0].user_set.add(carol)
    return mail_target


def test_checking_drift_reports_an_outside_grant_revoked_when_the_target_says_so(manager_client, carol_outside):
    response = manager_client.post(target_url("target-check-drift", carol_outside), follow=True)

    assertContains(response, "Grants outside PIM: none; revoked: 1; granted again: 0.")
    assertContains(response, "no grants outside PIM.")
    event = AuditEvent.objects.get(action="provisioning.revoked")
    assert (event.data["login"], event.data["outside_pim"]) == ("carol", True)


def test_checking_drift_really_removes_an_outside_member_of_the_group(manager_client, carol_outside):
    manager_client.post(target_url("target-check-drift", carol_outside))

    assert members() == []


def test_a_target_that_is_off_offers_no_drift_check_and_refuses_one(manager_client, mail_target, pim_admin):
    services.update_target(actor=pim_admin, target=mail_target, name=mail_target.name, params=mail_target.params,
                           enabled=False, revoke_outside_grants=False)  # fmt: skip
    page = manager_client.get(targets_url(mail_target.role))
    assertNotContains(page, target_url("target-check-drift", mail_target))
    assertContains(page, "Not checked while the target is off.")

    response = manager_client.post(target_url("target-check-drift", mail_target), follow=True)

    assertContains(response, services.TARGET_OFF.replace("'", "&#x27;") % {"name": "Mail admins group"})
    assert not AuditEvent.objects.filter(action="provisioning.drift_checked").exists()


def test_a_target_that_cannot_be_reached_shows_why_drift_was_not_checked(manager_client, exchange_admin, monkeypatch):
    monkeypatch.delenv("PIM_TEST_NOWHERE_DB", raising=False)
    params = {"dsn_variable": "PIM_TEST_NOWHERE_DB", "role": "reporting_read"}
    target = services.create_target(actor=None, role=exchange_admin, name="Reporting database", kind="postgres_role",
                                    params=params)  # fmt: skip

    response = manager_client.post(target_url("target-check-drift", target), follow=True)

    expected = "the environment variable PIM_TEST_NOWHERE_DB (the connection string) is not set"
    assertContains(response, f"Drift of Reporting database not checked: {expected}")
    assertContains(response, f"could not check: {expected}")


def test_checking_drift_of_a_webhook_that_cannot_list_says_so(manager_client, exchange_admin):
    target = services.create_target(actor=None, role=exchange_admin, name="Mail hook", kind="webhook",
                                    params=HOOK_PARAMS)  # fmt: skip

    response = manager_client.post(target_url("target-check-drift", target), follow=True)

    assertContains(response, "Mail hook cannot list who holds the role there: drift cannot be checked.")
    assertContains(response, "Not checked: this target cannot list who holds the role there")
