"""Security alerts: a registry of rules, and the services that raise, resolve, dismiss and fix
their alerts.

`audit` imports no domain app, so the rules live with the apps that know their data
(roles.alert_rules, activations.alert_rules) and are registered from each app's
`AppConfig.ready()`, the way Django's system checks are. A rule either scans (`scan`: run by
the `pim.alerts` schedule every 15 minutes and by "Scan now") or is raised by its app when the
event happens (`raise_alert`), or both.

One rule has at most one live (open or dismissed) alert (the `alert_one_live_per_rule`
constraint). Findings open it (audited `alert.raised`, and one notification through the
outbox); later scans update its items; a scan that finds nothing resolves it
(`alert.resolved`). A dismissed alert stays dismissed until `dismissed_until`; a scan after
that which still finds the condition reopens it (`alert.reopened`, notified again).
"""

import logging
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from audit import outbox
from audit.models import LIVE_ALERT_STATUSES, Alert, AlertRuleSetting, AlertStatus
from audit.services import record_event

logger = logging.getLogger(__name__)

# Worst first: the order of the /alerts/ page.
SEVERITIES = ("critical", "high", "medium", "low")


@dataclass(frozen=True)
class Threshold:
    """A number an administrator may change on /alerts/settings/, within [low, high]."""

    key: str
    label: str
    default: int
    low: int
    high: int


@dataclass(frozen=True)
class Finding:
    """One affected item of an alert: a stable key (what `fix` is given), what the page shows,
    and whether the rule can fix it."""

    key: str
    label: str
    fix: bool = False

    def as_item(self) -> dict[str, Any]:
        return {"key": self.key, "label": self.label, "fix": self.fix}


@dataclass(frozen=True)
class AlertRule:
    """What an alert means and how it is found. `scan(thresholds, now)` returns the findings
    (None: event-driven only); `fix(actor=, item_key=)` repairs one item through the domain's
    audited services; `recipients()` says who is told (default: set_default_recipients)."""

    key: str
    title: str
    description: str
    why: str
    how_to_fix: str
    severity: str
    thresholds: tuple[Threshold, ...] = ()
    scan: Callable[[dict[str, int], datetime], list[Finding]] | None = None
    fix: Callable[..., None] | None = None
    fix_label: str = ""
    recipients: Callable[[], Iterable] | None = None
    # False when the app already tells people of every event itself (break-glass sign-ins).
    notify: bool = True

    def __post_init__(self):
        if self.severity not in SEVERITIES:
            raise ValueError(f"alert rule {self.key}: severity must be one of {SEVERITIES}")

    def defaults(self) -> dict[str, int]:
        return {threshold.key: threshold.default for threshold in self.thresholds}


_rules: dict[str, AlertRule] = {}
_default_recipients: list[Callable[[], Iterable]] = []


def register(rule: AlertRule) -> AlertRule:
    """Add a rule (from an AppConfig.ready()). Registering the same key again replaces it."""
    _rules[rule.key] = rule
    return rule


def set_default_recipients(provider: Callable[[], Iterable]) -> None:
    """Who is told of a rule that names nobody (roles registers its administrators here)."""
    _default_recipients[:] = [provider]


def rules() -> list[AlertRule]:
    """Every registered rule, worst severity first, then by title."""
    return sorted(_rules.values(), key=lambda rule: (SEVERITIES.index(rule.severity), rule.title))


def get_rule(key: str) -> AlertRule | None:
    return _rules.get(key)


# Settings --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RuleConfig:
    rule: AlertRule
    enabled: bool
    thresholds: dict[str, int] = field(default_factory=dict)


def configs() -> list[RuleConfig]:
    """Every rule with its settings as they are now (defaults where nobody changed them). One query."""
    saved = {setting.rule_key: setting for setting in AlertRuleSetting.objects.all()}
    return [_config(rule, saved.get(rule.key)) for rule in rules()]


def config_of(rule: AlertRule) -> RuleConfig:
    return _config(rule, AlertRuleSetting.objects.filter(rule_key=rule.key).first())


def _config(rule: AlertRule, setting: AlertRuleSetting | None) -> RuleConfig:
    thresholds = rule.defaults()
    if setting is None:
        return RuleConfig(rule, True, thresholds)
    for key, value in setting.thresholds.items():
        if key in thresholds:
            thresholds[key] = value
    return RuleConfig(rule, setting.enabled, thresholds)


THRESHOLD_OUT_OF_RANGE = "%(rule)s: %(threshold)s must be a whole number from %(low)s to %(high)s; you gave %(given)s."


def update_settings(*, actor, changes: dict[str, dict[str, Any]]) -> list[str]:
    """Change rules' `enabled` and thresholds: {rule key: {"enabled": bool, "thresholds":
    {key: value}}}. Every value is checked first; any out of range refuses the whole change
    (ValidationError naming the rule, the threshold and its range) and nothing is saved.
    One audit event (alert.settings_updated) with old and new values. Returns the rules changed."""
    problems: dict[str, list[ValidationError]] = {}
    wanted: dict[str, RuleConfig] = {}
    for key, change in changes.items():
        rule = get_rule(key)
        if rule is None:
            raise ValueError(f"no alert rule {key}")
        thresholds = {}
        for threshold in rule.thresholds:
            given = change.get("thresholds", {}).get(threshold.key, threshold.default)
            try:
                value = int(str(given).strip())
            except ValueError:
                value = None
            if value is None or not threshold.low <= value <= threshold.high:
                problems.setdefault(f"{key}-{threshold.key}", []).append(ValidationError(
                    THRESHOLD_OUT_OF_RANGE, code="threshold_out_of_range",
                    params={"rule": rule.title, "threshold": threshold.label, "low": threshold.low,
                            "high": threshold.high, "given": given if str(given).strip() else "nothing"}))  # fmt: skip
                continue
            thresholds[threshold.key] = value
        wanted[key] = RuleConfig(rule, bool(change.get("enabled", True)), thresholds)
    if problems:
        raise ValidationError(problems)
    diff: dict[str, dict[str, list]] = {}
    with transaction.atomic():
        saved = {s.rule_key: s for s in AlertRuleSetting.objects.select_for_update().filter(rule_key__in=wanted)}
        for key, new in wanted.items():
            old = _config(new.rule, saved.get(key))
            changed = {}
            if old.enabled != new.enabled:
                changed["enabled"] = [old.enabled, new.enabled]
            for name, value in new.thresholds.items():
                if old.thresholds[name] != value:
                    changed[name] = [old.thresholds[name], value]
            if not changed:
                continue
            diff[key] = changed
            AlertRuleSetting.objects.update_or_create(
                rule_key=key, defaults={"enabled": new.enabled, "thresholds": new.thresholds,
                                        "updated_at": timezone.now()})  # fmt: skip
        if diff:
            record_event(actor=actor, action="alert.settings_updated", data={"changes": diff})
    return sorted(diff)


# Raising and resolving -------------------------------------------------------------------------


def run_scan(*, now: datetime) -> Counter:
    """Run every enabled scanning rule and bring its alert up to date. A rule that fails is
    logged and skipped: the others still run. Returns counts of what happened."""
    outcomes: Counter = Counter()
    for config in configs():
        if config.rule.scan is None:
            continue
        try:
            outcomes[_scan_one(config, now=now)] += 1
        except Exception:  # noqa: BLE001  one broken rule must not silence the rest
            logger.exception("alert rule %s failed", config.rule.key)
            outcomes["failed"] += 1
    return outcomes


def scan_rule(rule_key: str, *, now: datetime) -> str:
    """Run one scanning rule now (event-driven callers, and after a fix)."""
    rule = _rules[rule_key]
    return _scan_one(config_of(rule), now=now)


def _scan_one(config: RuleConfig, *, now: datetime) -> str:
    if not config.enabled:
        return _apply(config.rule, [], now=now, resolve=True, reason="the rule was turned off")
    findings = config.rule.scan(config.thresholds, now)
    return _apply(config.rule, findings, now=now, resolve=True)


def raise_alert(rule_key: str, findings: list[Finding], *, now: datetime) -> str:
    """For event-driven rules: add `findings` to the rule's alert, opening it if there is none.
    Nothing happens while the rule is turned off. Returns what happened."""
    rule = _rules[rule_key]
    if not findings or not config_of(rule).enabled:
        return "nothing to do"
    return _apply(rule, findings, now=now, resolve=False)


def _apply(rule: AlertRule, findings: list[Finding], *, now: datetime, resolve: bool, reason: str = "") -> str:
    items = [finding.as_item() for finding in findings]
    try:
        with transaction.atomic():
            return _apply_locked(rule, items, now=now, resolve=resolve, reason=reason)
    except IntegrityError:
        # Another worker opened the rule's alert between our read and our insert: update theirs.
        with transaction.atomic():
            return _apply_locked(rule, items, now=now, resolve=resolve, reason=reason)


def _apply_locked(rule: AlertRule, items: list[dict], *, now: datetime, resolve: bool, reason: str) -> str:
    alert = Alert.objects.select_for_update().filter(rule_key=rule.key, status__in=LIVE_ALERT_STATUSES).first()
    if not items:
        if alert is None or not resolve:
            return "nothing to do"
        alert.status, alert.resolved_at = AlertStatus.RESOLVED, now
        alert.save(update_fields=["status", "resolved_at"])
        record_event(actor=None, action="alert.resolved", target=alert,
                     data={"rule": rule.key, **({"reason": reason} if reason else {})})  # fmt: skip
        return "resolved"
    if not resolve and alert is not None:
        # Event-driven: what happened before stays listed next to what just happened.
        known = {item["key"] for item in items}
        items = [item for item in alert.items if item["key"] not in known] + items
    if alert is None:
        alert = Alert.objects.create(rule_key=rule.key, severity=rule.severity, items=items, first_seen=now,
                                     last_seen=now)  # fmt: skip
        record_event(actor=None, action="alert.raised", target=alert, data=_event_data(rule, items))
        _notify(rule, alert, verb="raised")
        return "raised"
    alert.items, alert.last_seen, alert.severity = items, now, rule.severity
    fields = ["items", "last_seen", "severity"]
    if alert.status == AlertStatus.DISMISSED and alert.dismissed_until <= now:
        alert.status = AlertStatus.OPEN
        fields.append("status")
        alert.save(update_fields=fields)
        record_event(actor=None, action="alert.reopened", target=alert, data=_event_data(rule, items))
        _notify(rule, alert, verb="reopened")
        return "reopened"
    alert.save(update_fields=fields)
    return "updated"


def _event_data(rule: AlertRule, items: list[dict]) -> dict[str, Any]:
    return {"rule": rule.key, "severity": rule.severity, "items": [item["label"] for item in items[:20]],
            "count": len(items)}  # fmt: skip


def _notify(rule: AlertRule, alert: Alert, *, verb: str) -> None:
    if not rule.notify:
        return
    provider = rule.recipients or (_default_recipients[0] if _default_recipients else None)
    recipients = list(provider()) if provider else []
    link = settings.PIM_SITE_URL.rstrip("/") + reverse("alerts:list")
    lines = "\n".join(f"- {item['label']}" for item in alert.items[:20])
    more = f"\n... and {len(alert.items) - 20} more" if len(alert.items) > 20 else ""
    outbox.queue(
        rule=f"alert.{rule.key}", recipients=recipients, link=link,
        subject=f"[PIM] {rule.severity.capitalize()} alert {verb}: {rule.title}",
        body=f"{rule.description}\n\n{lines}{more}\n\nHow to fix: {rule.how_to_fix}\n\n{link}\n",
        critical=rule.severity == "critical", data={"alert": alert.pk, "severity": rule.severity},
    )  # fmt: skip


# Acting on an alert ----------------------------------------------------------------------------

DISMISS_REASON_REQUIRED = "Give a reason for dismissing this alert."
DISMISS_DAYS_OUT_OF_RANGE = "An alert can be dismissed for %(low)s to %(high)s days; you asked for %(days)s."
DISMISS_DAYS = (1, 90)
NOT_OPEN = "This alert is no longer open."
NOT_FIXABLE = "This item has no fix, or is no longer part of the alert."


def dismiss(*, actor, alert: Alert, reason: str, days: int, now: datetime) -> Alert:
    """Hide an open alert for `days` (1 to 90) with a reason; audited (alert.dismissed). A scan
    after that which still finds the condition reopens it."""
    reason = (reason or "").strip()
    problems = {}
    if not reason:
        problems["reason"] = [ValidationError(DISMISS_REASON_REQUIRED, code="reason_required")]
    if not isinstance(days, int) or not DISMISS_DAYS[0] <= days <= DISMISS_DAYS[1]:
        low, high = DISMISS_DAYS
        problems["days"] = [ValidationError(DISMISS_DAYS_OUT_OF_RANGE, code="days_out_of_range",
                                            params={"low": low, "high": high, "days": days})]  # fmt: skip
    if problems:
        raise ValidationError(problems)
    until = now + timedelta(days=days)
    with transaction.atomic():
        # Compare-and-swap: of two administrators dismissing at once, one does.
        moved = Alert.objects.filter(pk=alert.pk, status=AlertStatus.OPEN).update(
            status=AlertStatus.DISMISSED, dismissed_by=actor, dismissed_at=now, dismiss_reason=reason[:500],
            dismissed_until=until)  # fmt: skip
        if not moved:
            raise ValidationError(NOT_OPEN, code="not_open")
        alert.refresh_from_db()
        record_event(actor=actor, action="alert.dismissed", target=alert, justification=reason,
                     data={"rule": alert.rule_key, "until": until, "days": days})  # fmt: skip
    return alert


def fix(*, actor, alert: Alert, item_key: str, now: datetime) -> None:
    """Repair one item through the rule's fix (the domain's audited service), record
    alert.item_fixed, and scan the rule again so the alert shows what is left. The domain
    service's refusals (ValidationError) pass through unchanged, and nothing is recorded."""
    rule = get_rule(alert.rule_key)
    item = next((item for item in alert.items if item["key"] == item_key), None)
    if rule is None or rule.fix is None or item is None or not item.get("fix"):
        raise ValidationError(NOT_FIXABLE, code="not_fixable")
    if alert.status not in LIVE_ALERT_STATUSES:
        raise ValidationError(NOT_OPEN, code="not_open")
    rule.fix(actor=actor, item_key=item_key)
    record_event(actor=actor, action="alert.item_fixed", target=alert,
                 data={"rule": rule.key, "item": item_key, "label": item["label"]})  # fmt: skip
    if rule.scan is not None:
        # After the service's own clock reading: what it ended at that instant is gone now.
        scan_rule(rule.key, now=max(now, timezone.now()))


# Reads -----------------------------------------------------------------------------------------


def open_alert_count() -> int:
    """The navigation's number. One query (alert_status_idx)."""
    return Alert.objects.filter(status=AlertStatus.OPEN).count()


# Audit's own rule --------------------------------------------------------------------------------

CHAIN_BROKEN = AlertRule(
    key="audit_chain_broken",
    title="Audit chain broken",
    description="The audit log's hash chain does not verify: an event was changed, removed or inserted.",
    why="The audit log is the evidence of who held which privilege when. A broken chain means it can no "
    "longer be trusted, and someone with database access may be covering their tracks.",
    how_to_fix="Treat it as an incident: run manage.py verify_audit, compare the named events with a SIEM "
    "copy or a backup, and find out who had write access to the database.",
    severity="critical",
)
