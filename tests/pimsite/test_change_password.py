from django.contrib.auth.models import Permission
from django.urls import reverse
from pytest_django.asserts import assertContains, assertRedirects

from audit.models import AuditEvent
from tests.conftest import verify_session
from tests.factories import TEST_PASSWORD

NEW_PASSWORD = "a-much-longer-passphrase-2026"


def test_changing_the_password_keeps_this_session_and_is_audited(client, alice):
    verify_session(client, alice)

    response = client.post(
        reverse("accounts:password"),
        {"old_password": TEST_PASSWORD, "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
        follow=True,
    )

    assertContains(response, "Your password has been changed.")
    alice.refresh_from_db()
    assert alice.check_password(NEW_PASSWORD)
    assert client.get(reverse("home")).status_code == 200  # still signed in and verified
    assert AuditEvent.objects.filter(action="auth.password_changed", actor=alice).count() == 1


def test_a_wrong_old_password_or_a_short_new_one_changes_nothing(client, alice):
    verify_session(client, alice)

    wrong_old = client.post(
        reverse("accounts:password"),
        {"old_password": "not-it", "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
    )
    too_short = client.post(
        reverse("accounts:password"),
        {"old_password": TEST_PASSWORD, "new_password1": "short-pw", "new_password2": "short-pw"},
    )

    assertContains(wrong_old, "Your old password was entered incorrectly")
    assertContains(too_short, "at least 12 characters")
    alice.refresh_from_db()
    assert alice.check_password(TEST_PASSWORD)
    assert not AuditEvent.objects.filter(action="auth.password_changed").exists()


def test_the_admin_change_password_link_leads_to_the_audited_page(client, pim_admin):
    verify_session(client, pim_admin)

    assertRedirects(client.get(reverse("admin:password_change")), reverse("accounts:password"))


def test_django_permission_tables_grant_nothing_without_an_assignment(db, dave):
    # Rights come from PIM assignments; a permission granted in Django's tables is ignored.
    dave.is_staff = True
    dave.save()
    dave.user_permissions.add(Permission.objects.get(codename="add_eligibleassignment"))

    assert not dave.has_perm("roles.add_eligibleassignment")
    assert not dave.has_module_perms("roles")
