from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from activations.choices import RequestStatus
from activations.models import ActivationRequest
from activations.services import request_activation
from audit.services import record_event
from roles import services as role_services
from roles.models import AccessReview, ActiveAssignment, EligibleAssignment, Role, Scope
from roles.provisioning.services import create_target
from roles.reviews import services as review_services
from roles.reviews.choices import EndType, NoResponse, Recurrence, ReviewedTypes, ReviewerType
from roles.rules import StagePlan
from roles.selectors import administrator_holders

DEMO_PASSWORD = "pim-demo-2026"  # noqa: S105  published in the README on purpose
# RFC 6238's test key: ASCII "12345678901234567890", base32 GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ.
DEMO_TOTP_KEY_HEX = b"12345678901234567890".hex()

DEMO_REVIEW = "Exchange Administrator: quarterly review"

DEMO_USERS = [
    # username, first name, last name
    ("admin", "Ada", "Admin"),
    ("alice", "Alice", "Anders"),
    ("bob", "Bob", "Berg"),
    ("carol", "Carol", "Chen"),
    ("dave", "Dave", "Dietz"),
]
DEMO_SCOPES = [
    ("/subscriptions/prod", "Production subscription"),
    ("/subscriptions/prod/resourceGroups/web", "Web front ends"),
    ("/subscriptions/prod/resourceGroups/data", "Databases"),
    ("/subscriptions/dev", "Development subscription"),
]
# principal, role, scope: eligible, permanent
DEMO_ELIGIBLE = [
    ("alice", "user-administrator", "/"),
    ("alice", "exchange-administrator", "/"),
    ("bob", "security-reader", "/"),
    ("carol", "privileged-role-administrator", "/"),
]


class Command(BaseCommand):
    help = "Load the demo accounts, scopes, assignments and some history. Safe to run again; refused in production."

    def handle(self, *args, **options):
        if settings.PIM_ENV == "production":
            raise CommandError("seed_demo is refused when PIM_ENV=production: demo accounts have a published password.")
        summary = self._seed()
        self.stdout.write(self.style.SUCCESS(summary))

    def _seed(self) -> str:
        User = get_user_model()
        created_users = 0
        users = {}
        for username, first, last in DEMO_USERS:
            first_account = username == "admin" and not User.objects.filter(username="admin").exists()
            if first_account and not administrator_holders():
                # The first account, as a real install would make it (bootstrap's first-use rule).
                users["admin"] = role_services.bootstrap_first_administrator(
                    username="admin", email="admin@example.com", password=DEMO_PASSWORD
                )
                User.objects.filter(pk=users["admin"].pk).update(first_name=first, last_name=last)
                created_users += 1
            if username not in users:
                user, created = User.objects.get_or_create(
                    username=username,
                    defaults={"email": f"{username}@example.com", "first_name": first, "last_name": last},
                )
                if created:
                    user.set_password(DEMO_PASSWORD)
                    user.save(update_fields=["password"])
                    record_event(actor=None, action="account.created", target=user, principal=user,
                                 data={"via": "seed_demo", "email": user.email})  # fmt: skip
                    created_users += 1
                users[username] = user
            TOTPDevice.objects.update_or_create(
                user=users[username],
                name="Authenticator app",
                defaults={"key": DEMO_TOTP_KEY_HEX, "confirmed": True, "digits": 6, "step": 30},
            )
        admin = users["admin"]

        for path, name in DEMO_SCOPES:
            role_services.create_scope(actor=admin, path=path, name=name)

        # Exchange Administrator asks bob's approval; Privileged Role Administrator asks admin's.
        role_services.update_role_settings(
            actor=admin,
            role=Role.objects.get(slug="exchange-administrator"),
            changes={"require_approval": True},
            stages=[StagePlan(approvers=(users["bob"],))],
        )
        role_services.update_role_settings(
            actor=admin,
            role=Role.objects.get(slug="privileged-role-administrator"),
            changes={"require_approval": True},
            stages=[StagePlan(approvers=(admin,))],
        )

        root = Scope.objects.get(path="/")
        now = timezone.now()
        created_assignments = 0
        for username, slug, path in DEMO_ELIGIBLE:
            principal, role = users[username], Role.objects.get(slug=slug)
            scope = root if path == "/" else Scope.objects.get(path=path)
            if EligibleAssignment.objects.open().filter(principal=principal, role=role, scope=scope).exists():
                continue
            role_services.assign_eligible(
                actor=admin,
                principal=principal,
                role=role,
                scope=scope,
                start_at=now,
                end_at=None,
                justification="Demo: on-call rota.",
            )
            created_assignments += 1

        # History: bob held Security Reader for two hours yesterday, granted by PIM itself (a system
        # action, so no second factor to show); it expired.
        security_reader = Role.objects.get(slug="security-reader")
        prod = Scope.objects.get(path="/subscriptions/prod")
        if not ActiveAssignment.objects.filter(principal=users["bob"], role=security_reader, scope=prod).exists():
            start = (now - timedelta(days=1)).replace(minute=0, second=0, microsecond=0)
            past = role_services.assign_active(
                actor=None,
                principal=users["bob"],
                role=security_reader,
                scope=prod,
                start_at=start,
                end_at=start + timedelta(hours=2),
                justification="Demo: INC-1042 incident review.",
            )
            role_services.record_expiry(model=ActiveAssignment, assignment_id=past.pk, now=now)
            created_assignments += 1
        # carol waits for admin's approval of Privileged Role Administrator: admin's inbox has work.
        created_requests = 0
        carol_eligibility = EligibleAssignment.objects.open().get(
            principal=users["carol"], role__slug="privileged-role-administrator"
        )
        waiting = ActivationRequest.objects.filter(
            eligibility=carol_eligibility, status__in=[RequestStatus.PENDING_APPROVAL, RequestStatus.PROVISIONED]
        )
        if not waiting.exists():
            request_activation(
                actor=users["carol"], eligibilities=[carol_eligibility], duration=timedelta(hours=2),
                justification="Demo: onboard the new helpdesk team (CHG-2231).", mfa_verified_at=timezone.now(),
            )  # fmt: skip
            created_requests += 1
        created_reviews = self._seed_review(admin=admin, bob=users["bob"], now=now)
        # Provisioning: User Administrator puts its holders in the Django group "user-admins".
        user_admin = Role.objects.get(slug="user-administrator")
        if not user_admin.targets.exists():
            create_target(actor=admin, role=user_admin, name="Group user-admins", kind="django_group",
                          params={"group": "user-admins"})  # fmt: skip
        return (
            f"Demo data ready: {created_users} account(s), {created_assignments} assignment(s), "
            f"{created_requests} request(s) and {created_reviews} access review(s) created."
        )

    def _seed_review(self, *, admin, bob, now) -> int:
        """bob reviews who is eligible for Exchange Administrator (alice); it starts today, so his
        Reviews page has work at once."""
        if AccessReview.objects.filter(name=DEMO_REVIEW).exists():
            return 0
        review_services.create_review(actor=admin, values={
            "name": DEMO_REVIEW, "description": "Demo: does whoever may activate Exchange Administrator need it?",
            "roles": [Role.objects.get(slug="exchange-administrator")], "scopes": [],
            "assignment_types": ReviewedTypes.BOTH, "inactive_days": None, "reviewer_type": ReviewerType.USERS,
            "reviewers": [bob], "reviewer_groups": [], "fallback_reviewer": admin, "start_date": now.date(),
            "time_zone": "UTC", "duration_days": 14, "recurrence": Recurrence.QUARTERLY, "end_type": EndType.NEVER,
            "end_date": None, "end_after_occurrences": None, "auto_apply": True, "no_response": NoResponse.NO_CHANGE,
            "require_justification": True, "reminder_days_before": 3, "extra_recipients": [],
        })  # fmt: skip
        review_services.start_due_occurrences(now=now)
        return 1
