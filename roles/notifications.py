"""Who is told what about a role: Entra's nine notification rules. For each of three events (a
member is assigned as eligible, assigned as active, an eligible member activates) there are
three audiences (the administrators, the assignee or requester, the approvers), each with its
default recipients on or off, additional addresses, and "critical emails only".

A message is critical when someone must act on it (a request to approve) or when it concerns
a critical-tier role; with "critical emails only" a rule sends nothing else. Messages leave
through the audit outbox, in the caller's transaction."""

from collections.abc import Iterable
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email

from audit import outbox
from roles.choices import Tier

MAX_ADDITIONAL = 20


@dataclass(frozen=True)
class Rule:
    event: str
    audience: str
    label: str

    @property
    def key(self) -> str:
        """How the rule is stored in RoleSettings.notification_rules and named to webhooks."""
        return f"role.{self.event}.{self.audience}"


EVENTS = {
    "eligible_assigned": "Members are assigned as eligible to this role",
    "active_assigned": "Members are assigned as active to this role",
    "activated": "Eligible members activate this role",
}
RULES = (
    Rule("eligible_assigned", "admin", "Role assignment alert"),
    Rule("eligible_assigned", "assignee", "Notification to the assigned user (assignee)"),
    Rule("eligible_assigned", "approver", "Request to approve a role assignment renewal/extension"),
    Rule("active_assigned", "admin", "Role assignment alert"),
    Rule("active_assigned", "assignee", "Notification to the assigned user (assignee)"),
    Rule("active_assigned", "approver", "Request to approve a role assignment renewal/extension"),
    Rule("activated", "admin", "Role activation alert"),
    Rule("activated", "assignee", "Notification to activated user (requestor)"),
    Rule("activated", "approver", "Request to approve an activation"),
)
RULES_BY_KEY = {rule.key: rule for rule in RULES}
DEFAULT_RECIPIENTS = {"admin": "Admin", "assignee": "Assignee", "approver": "Approver"}
DEFAULT = {"default_recipients": True, "additional_recipients": [], "critical_only": False}

NOT_AN_ADDRESS = "%(rule)s (%(event)s): '%(value)s' is not an email address; list addresses separated by commas."
TOO_MANY_ADDRESSES = "%(rule)s (%(event)s): at most %(max)s additional recipients; %(count)s were given."


def describe(rule: Rule) -> str:
    return f"{rule.label} ({EVENTS[rule.event].lower()})"


def settings_of(notification_rules: dict, rule: Rule) -> dict:
    """One rule's settings: what the role stores over the defaults (on, nobody extra, all mail)."""
    return DEFAULT | (notification_rules or {}).get(rule.key, {})


def check_notification_rules(notification_rules: dict) -> None:
    """Raise one ValidationError under "notification_rules" naming each bad rule and value."""
    errors = []
    for key, values in (notification_rules or {}).items():
        rule = RULES_BY_KEY.get(key)
        if rule is None or not isinstance(values, dict) or set(values) - set(DEFAULT):
            errors.append(ValidationError("Unknown notification rule %(key)s.", params={"key": key}))
            continue
        names = {"rule": rule.label, "event": EVENTS[rule.event].lower(), "key": key}
        addresses = list(values.get("additional_recipients", []))
        if len(addresses) > MAX_ADDITIONAL:
            errors.append(ValidationError(TOO_MANY_ADDRESSES, code="too_many_recipients",
                                          params={**names, "max": MAX_ADDITIONAL,
                                                  "count": len(addresses)}))  # fmt: skip
        for address in addresses:
            try:
                validate_email(address)
            except ValidationError:
                errors.append(ValidationError(NOT_AN_ADDRESS, code="invalid_recipient",
                                              params={**names, "value": str(address)[:100]}))  # fmt: skip
    if errors:
        raise ValidationError({"notification_rules": errors})


def notify(**kwargs) -> None:
    """Tell `audience` about `event` on `role` as the role's rule says (the arguments of `notice`)."""
    wanted = notice(**kwargs)
    if wanted is not None:
        outbox.queue_many([wanted])


def notice(
    *,
    role,
    event: str,
    audience: str,
    recipients: Iterable,
    subject: str,
    body: str,
    link: str = "",
    action_required: bool = False,
    data: dict | None = None,
) -> outbox.Notice | None:
    """What the role's rule for `event` and `audience` sends: its default recipients
    (`recipients`) if on, plus the rule's additional addresses; nothing (None) that is not
    critical when the rule asks for critical emails only."""
    rule = RULES_BY_KEY[f"role.{event}.{audience}"]
    wanted = settings_of(role.settings.notification_rules, rule)
    critical = action_required or role.tier == Tier.CRITICAL
    if wanted["critical_only"] and not critical:
        return None
    return outbox.Notice(
        rule=rule.key,
        recipients=list(recipients) if wanted["default_recipients"] else [],
        extra_emails=wanted["additional_recipients"],
        subject=subject,
        body=body,
        link=link,
        critical=critical,
        data={"role": role.slug, **(data or {})},
    )


def site_url(path: str) -> str:
    """An absolute link for a message, on the site's configured address (PIM_SITE_URL)."""
    return settings.PIM_SITE_URL.rstrip("/") + path
