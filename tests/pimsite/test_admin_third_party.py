"""The admin pages of third-party models: no secrets shown, nothing that runs code, every
change audited."""

from django.contrib.auth import get_user_model
from django.urls import reverse
from django_otp.plugins.otp_totp.models import TOTPDevice
from django_q.models import Schedule
from pytest_django.asserts import assertNotContains

from audit.models import AuditEvent
from tests.conftest import verify_session
from tests.factories import TOTP_KEY_HEX


def test_an_authenticator_device_page_never_shows_its_secret_key(client, pim_admin, alice):
    verify_session(client, pim_admin)
    device = alice.totpdevice_set.get()

    response = client.get(reverse("admin:otp_totp_totpdevice_change", args=[device.pk]))

    assert response.status_code == 200
    assertNotContains(response, TOTP_KEY_HEX)
    assertNotContains(response, 'name="key"')


def test_deleting_a_device_resets_that_users_mfa_and_is_audited_once(client, pim_admin, alice):
    verify_session(client, pim_admin)
    device = alice.totpdevice_set.get()

    client.post(reverse("admin:otp_totp_totpdevice_delete", args=[device.pk]), {"post": "yes"})

    assert not TOTPDevice.objects.filter(pk=device.pk).exists()
    removed = AuditEvent.objects.filter(action="auth.mfa_device_removed")
    assert [(e.actor, e.principal) for e in removed] == [(pim_admin, alice)]
    assert not AuditEvent.objects.filter(action="admin.deleted").exists()


def test_schedules_cannot_be_added_or_edited_from_the_admin(client, pim_admin):
    verify_session(client, pim_admin)
    schedule = Schedule.objects.create(name="sweep", func="math.floor", args="1.5")

    assert client.get(reverse("admin:django_q_schedule_add")).status_code == 403
    response = client.post(
        reverse("admin:django_q_schedule_change", args=[schedule.pk]), {"name": "sweep", "func": "os.system"}
    )

    assert response.status_code == 403
    schedule.refresh_from_db()
    assert schedule.func == "math.floor"


def test_adding_a_user_in_the_admin_is_audited_with_the_administrator_as_actor(client, pim_admin):
    verify_session(client, pim_admin)

    client.post(
        reverse("admin:auth_user_add"),
        {"username": "erin", "password1": "a-long-enough-passphrase", "password2": "a-long-enough-passphrase",
         "usable_password": "true"},
    )  # fmt: skip

    erin = get_user_model().objects.get(username="erin")
    event = AuditEvent.objects.get(action="admin.added")
    assert (event.actor, event.principal, event.target_id) == (pim_admin, erin, str(erin.pk))
    assert event.data["model"] == "auth.User"
