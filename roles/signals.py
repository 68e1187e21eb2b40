"""Leaving a group ends what a member activated through it. Django changes group membership in
many places (the user and group admin pages, `user.groups.remove`, `group.user_set.clear`);
every one of them sends m2m_changed, so this is the one place that follows them."""

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from roles import services


def membership_changed(sender, instance, action, reverse, model, pk_set, **kwargs) -> None:
    """m2m_changed on User.groups.through. Forward (user.groups...): instance is the user and
    pk_set group ids; reverse (group.user_set...): instance is the group and pk_set user ids.
    A clear is handled before it happens, while the members are still known."""
    if action == "post_remove":
        pairs = _pairs(instance, reverse, pk_set)
    elif action == "pre_clear":
        related = instance.user_set.all() if reverse else instance.groups.all()
        pairs = _pairs(instance, reverse, {item.pk for item in related})
    else:
        return
    for user, group in pairs:
        services.end_access_through_group(actor=None, user=user, group=group)


def _pairs(instance, reverse: bool, pk_set) -> list[tuple]:
    if reverse:  # instance is a group
        return [(user, instance) for user in get_user_model().objects.filter(pk__in=pk_set or ())]
    return [(instance, group) for group in Group.objects.filter(pk__in=pk_set or ())]
