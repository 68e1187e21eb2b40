"""/alerts/: the security alerts (audit.alerts). Audit readers see them; Privileged Role
Administrators (and Global Administrators) also scan now, dismiss, fix and change the rules."""

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST

from audit import alerts
from audit.models import Alert, AlertStatus
from pimsite.audit_views import audit_reader_required
from roles.permissions import NEEDS_ACTIVE_ADMIN_ROLE, acts_as_pim_administrator, pim_administrator_required


@audit_reader_required
@require_http_methods(["GET"])
def alert_list(request: HttpRequest) -> HttpResponse:
    """Open alerts by severity, worst first, with counts; dismissed ones listed below."""
    live = list(
        Alert.objects.filter(status__in=[AlertStatus.OPEN, AlertStatus.DISMISSED]).select_related("dismissed_by")
    )
    for alert in live:
        alert.rule = alerts.get_rule(alert.rule_key)
        # Not rule.fix in the template: the template language would call the function.
        alert.can_fix = alert.rule is not None and alert.rule.fix is not None
    groups = [
        {"severity": severity, "alerts": [a for a in live if a.status == AlertStatus.OPEN and a.severity == severity]}
        for severity in alerts.SEVERITIES
    ]
    dismissed = [alert for alert in live if alert.status == AlertStatus.DISMISSED]
    return render(request, "alerts/list.html", {
        "groups": groups, "dismissed": dismissed, "open_count": sum(len(g["alerts"]) for g in groups),
        "may_act": acts_as_pim_administrator(request), "dismiss_days": alerts.DISMISS_DAYS,
    })  # fmt: skip


@pim_administrator_required
@require_POST
def scan_now(request: HttpRequest) -> HttpResponse:
    outcomes = alerts.run_scan(now=timezone.now())
    summary = ", ".join(f"{what} {count}" for what, count in sorted(outcomes.items()) if what != "nothing to do")
    messages.success(request, f"Scan finished: {summary or 'nothing changed'}.")
    return redirect("alerts:list")


@pim_administrator_required
@require_POST
def dismiss(request: HttpRequest, alert_id: int) -> HttpResponse:
    alert = get_object_or_404(Alert, pk=alert_id)
    days_text = request.POST.get("days", "").strip()
    days = int(days_text) if days_text.lstrip("-").isdigit() else days_text or "nothing"
    try:
        alerts.dismiss(actor=request.user, alert=alert, reason=request.POST.get("reason", ""), days=days,
                       now=timezone.now())  # fmt: skip
    except ValidationError as refusal:
        for message in refusal.messages:
            messages.error(request, message)
    else:
        messages.success(request, f"Dismissed until {alert.dismissed_until:%Y-%m-%d %H:%M} UTC.")
    return redirect("alerts:list")


@pim_administrator_required
@require_POST
def fix(request: HttpRequest, alert_id: int) -> HttpResponse:
    alert = get_object_or_404(Alert, pk=alert_id)
    try:
        alerts.fix(actor=request.user, alert=alert, item_key=request.POST.get("item", ""), now=timezone.now())
    except ValidationError as refusal:
        for message in refusal.messages:
            messages.error(request, message)
    else:
        messages.success(request, "Fixed.")
    return redirect("alerts:list")


@require_http_methods(["GET", "POST"])
def alert_settings(request: HttpRequest) -> HttpResponse:
    """Each rule's enabled flag and thresholds. Any value out of range: every message shown,
    nothing saved."""
    if not acts_as_pim_administrator(request):
        raise PermissionDenied(NEEDS_ACTIVE_ADMIN_ROLE)
    configs = alerts.configs()
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        changes = {
            config.rule.key: {
                "enabled": request.POST.get(f"{config.rule.key}-enabled") == "on",
                "thresholds": {
                    t.key: request.POST.get(f"{config.rule.key}-{t.key}", "") for t in config.rule.thresholds
                },
            }
            for config in configs
        }
        try:
            changed = alerts.update_settings(actor=request.user, changes=changes)
        except ValidationError as refusal:
            errors = {field: [str(m) for m in problems] for field, problems in refusal.message_dict.items()}
            messages.error(request, "Nothing was saved: correct the values below.")
        else:
            messages.success(request, f"Saved {len(changed)} rule(s)." if changed else "Nothing changed.")
            return redirect("alerts:settings")
    rows = [
        {"config": config, "thresholds": [
            {"threshold": t, "name": f"{config.rule.key}-{t.key}",
             "value": request.POST.get(f"{config.rule.key}-{t.key}", config.thresholds[t.key])
             if request.method == "POST" else config.thresholds[t.key],
             "errors": errors.get(f"{config.rule.key}-{t.key}", [])}
            for t in config.rule.thresholds]}
        for config in configs
    ]  # fmt: skip
    return render(request, "alerts/settings.html", {"rows": rows, "errors": errors}, status=400 if errors else 200)
