"""`manage.py seed_demo`: the published demo cast, loaded once, never in production."""

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django_otp.plugins.otp_totp.models import TOTPDevice

from activations.models import ActivationRequest
from audit.models import AuditEvent
from audit.verification import verify_chain
from roles.models import AccessReview, ActiveAssignment, EligibleAssignment, ReviewItem, RoleSettings
from roles.selectors import is_pim_administrator

User = get_user_model()
DEMO_USERS = ["admin", "alice", "bob", "carol", "dave"]


@pytest.fixture
def seeded(db):
    call_command("seed_demo")


def open_eligible(username: str) -> set[tuple[str, str]]:
    return set(
        EligibleAssignment.objects.open().filter(principal__username=username).values_list("role__slug", "scope__path")
    )


def test_the_demo_accounts_sign_in_with_the_published_password_and_test_key(seeded):
    for username in DEMO_USERS:
        user = User.objects.get(username=username)
        assert user.check_password("pim-demo-2026"), username
        device = TOTPDevice.objects.get(user=user)
        assert device.confirmed
        assert device.key == b"12345678901234567890".hex()


def test_alice_bob_and_carol_are_eligible_and_dave_holds_nothing(seeded):
    assert open_eligible("alice") == {("user-administrator", "/"), ("exchange-administrator", "/")}
    assert open_eligible("bob") == {("security-reader", "/")}
    assert open_eligible("carol") == {("privileged-role-administrator", "/")}
    assert open_eligible("dave") == set()
    assert not ActiveAssignment.objects.filter(principal__username="dave").exists()


def test_exchange_needs_bobs_approval_and_pra_needs_admins(seeded):
    exchange = RoleSettings.objects.get(role__slug="exchange-administrator")
    pra = RoleSettings.objects.get(role__slug="privileged-role-administrator")

    assert exchange.require_approval
    assert list(exchange.stages.get().approvers.values_list("username", flat=True)) == ["bob"]
    assert pra.require_approval
    assert list(pra.stages.get().approvers.values_list("username", flat=True)) == ["admin"]
    assert not RoleSettings.objects.get(role__slug="user-administrator").require_approval


def test_admin_holds_standing_ga_and_pra_at_the_root(seeded):
    from django.utils import timezone

    admin = User.objects.get(username="admin")
    held = ActiveAssignment.objects.open().filter(principal=admin).values_list("role__slug", "scope__path", "end_at")

    assert sorted(held) == [("global-administrator", "/", None), ("privileged-role-administrator", "/", None)]
    assert is_pim_administrator(user=admin, at=timezone.now())


def test_the_history_has_an_expired_assignment_of_bob(seeded):
    past = ActiveAssignment.objects.get(principal__username="bob", scope__path="/subscriptions/prod")

    assert past.end_reason == "expired"
    assert AuditEvent.objects.filter(action="assignment.expired", principal__username="bob").count() == 1


def test_running_it_twice_creates_nothing_new_and_the_chain_verifies(seeded, capsys):
    models = (
        User,
        EligibleAssignment,
        ActiveAssignment,
        ActivationRequest,
        AuditEvent,
        TOTPDevice,
        AccessReview,
        ReviewItem,
    )
    counts = [model.objects.count() for model in models]

    call_command("seed_demo")

    assert [model.objects.count() for model in models] == counts
    assert "0 account(s), 0 assignment(s), 0 request(s) and 0 access review(s) created" in capsys.readouterr().out
    report = verify_chain()
    assert report.ok, report.reason
    assert report.count == counts[4]


def test_every_change_it_made_is_in_the_audit_log(seeded):
    actions = set(AuditEvent.objects.values_list("action", flat=True))

    assert {
        "account.created",
        "assignment.created",
        "scope.created",
        "settings.updated",
        "assignment.expired",
    } <= actions
    assert AuditEvent.objects.filter(action="assignment.created", data__assignment_type="eligible").count() == 4


def test_seed_demo_is_refused_in_production(db, settings):
    settings.PIM_ENV = "production"

    with pytest.raises(CommandError, match="refused when PIM_ENV=production"):
        call_command("seed_demo")

    assert not User.objects.exists()
    assert not AuditEvent.objects.exists()


def test_carol_waits_for_admins_approval_so_the_demo_inbox_has_work(seeded):
    request = ActivationRequest.objects.get(requester__username="carol")

    assert request.role.slug == "privileged-role-administrator"
    assert request.status == "pending_approval"


def test_every_demo_account_is_in_the_audit_log(seeded):
    created = AuditEvent.objects.filter(action="account.created").values_list("principal_username", flat=True)

    assert sorted(created) == ["admin", "alice", "bob", "carol", "dave"]


def test_bob_has_an_access_review_of_alices_exchange_eligibility_waiting(seeded):
    from roles.reviews.choices import OccurrenceStatus
    from roles.reviews.selectors import inbox

    bob = User.objects.get(username="bob")
    (occurrence,) = inbox(user=bob)
    assert occurrence.status == OccurrenceStatus.IN_PROGRESS
    assert occurrence.review.name == "Exchange Administrator: quarterly review"
    assert [(item.holder_name, item.role.slug) for item in occurrence.items.all()] == [
        ("alice", "exchange-administrator")
    ]


def test_user_administrator_is_provisioned_to_a_demo_group(seeded):
    from roles.models import Target

    target = Target.objects.get(role__slug="user-administrator")
    assert (target.kind, target.params) == ("django_group", {"group": "user-admins"})
