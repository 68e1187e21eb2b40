"""Target kind "django_group": membership of a Django auth group on this site, so that PIM gates
other Django apps sharing the database (and its own staff permissions)."""

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from roles.provisioning.kinds import Access, params_error

GROUP_REQUIRED = "Parameters: 'group' is the name of the Django group to add holders to (at most 150 characters)."
GROUP_HOLDS_ROLES = (
    "Parameters: group '%(group)s' holds PIM assignments itself; provisioning into it would change who holds "
    "them. Choose a group that holds none."
)


class DjangoGroupKind:
    key = "django_group"
    label = "Django group"
    params_help = '{"group": "finance-admins"}: holders are members of this group while they hold the role.'

    def check_params(self, params: dict) -> dict:
        from roles.models import ActiveAssignment, EligibleAssignment

        name = params.get("group")
        if not isinstance(name, str) or not name.strip() or len(name) > 150:
            raise params_error(GROUP_REQUIRED)
        name = name.strip()
        for model in (EligibleAssignment, ActiveAssignment):
            if model.objects.open().filter(group__name=name).exists():
                raise params_error(GROUP_HOLDS_ROLES, group=name)
        return {"group": name}

    def login_of(self, target, user) -> str:
        return user.get_username()

    def can_list(self, target) -> bool:
        return True

    def _group(self, target) -> Group:
        return Group.objects.get_or_create(name=target.params["group"])[0]

    def grant(self, access: Access) -> None:
        self._group(access.target).user_set.add(access.user)

    def revoke(self, access: Access) -> None:
        # A grant made outside PIM (drift) comes with its login only.
        user = access.user or get_user_model().objects.filter(username=access.login).first()
        if user is not None:
            self._group(access.target).user_set.remove(user)

    def list_grants(self, target) -> set[str]:
        members = get_user_model().objects.filter(groups__name=target.params["group"])
        return {user.get_username() for user in members}
