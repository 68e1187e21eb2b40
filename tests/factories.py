"""Factories that build valid rows only. They write no audit events: use them to set the
stage, and call services when the side effects are what the test is about."""

import factory
from django.contrib.auth import get_user_model
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from roles.choices import ActiveSource, Tier
from roles.models import ActiveAssignment, EligibleAssignment, Role, RoleSettings, Scope

TEST_PASSWORD = "correct-horse-battery-staple"
# RFC 6238 test key, the same one the demo accounts use.
TOTP_KEY_HEX = b"12345678901234567890".hex()


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.com")
    password = factory.PostGenerationMethodCall("set_password", TEST_PASSWORD)

    @factory.post_generation
    def save_password(obj, create, extracted, **kwargs):
        if create:
            obj.save(update_fields=["password"])


class TOTPDeviceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = TOTPDevice

    user = factory.SubFactory(UserFactory)
    name = "Authenticator app"
    key = TOTP_KEY_HEX
    confirmed = True


class RoleFactory(factory.django.DjangoModelFactory):
    """A custom role with default settings."""

    class Meta:
        model = Role
        skip_postgeneration_save = True

    slug = factory.Sequence(lambda n: f"custom-role-{n}")
    name = factory.Sequence(lambda n: f"Custom Role {n}")
    tier = Tier.STANDARD

    @factory.post_generation
    def with_settings(obj, create, extracted, **kwargs):
        if create:
            RoleSettings.objects.get_or_create(role=obj)


def root_scope() -> Scope:
    return Scope.objects.get(path="/")


class ScopeFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Scope
        django_get_or_create = ("path",)

    path = factory.Sequence(lambda n: f"/subscriptions/sub{n}")
    parent = factory.LazyFunction(root_scope)


class EligibleAssignmentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = EligibleAssignment

    principal = factory.SubFactory(UserFactory)
    role = factory.SubFactory(RoleFactory)
    scope = factory.LazyFunction(root_scope)
    start_at = factory.LazyFunction(timezone.now)
    end_at = None


class ActiveAssignmentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ActiveAssignment

    principal = factory.SubFactory(UserFactory)
    role = factory.SubFactory(RoleFactory)
    scope = factory.LazyFunction(root_scope)
    start_at = factory.LazyFunction(timezone.now)
    end_at = None
    source = ActiveSource.ADMIN
