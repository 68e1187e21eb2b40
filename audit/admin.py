from urllib.parse import urlsplit

from django.contrib import admin, messages
from django.db import models
from django.utils import timezone

from audit import outbox
from audit.admin_mixins import ReadOnlyAdminMixin
from audit.choices import Channel
from audit.models import Alert, AlertRuleSetting, AuditEvent, OutboxMessage, Webhook


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Read-only: the log is append-only on every path."""

    list_display = ("sequence", "occurred_at", "action", "actor_username", "principal_username", "role", "scope")
    list_filter = ("action", "role")
    search_fields = ("actor_username", "principal_username", "justification", "action", "role", "scope")
    date_hierarchy = "occurred_at"
    show_full_result_count = False  # a count over millions of events is not worth its time
    list_select_related = False


@admin.register(Webhook)
class WebhookAdmin(admin.ModelAdmin):
    """Saves and deletions go through the outbox services, which audit them (webhook.*). The
    secret is generated, shown read-only on the webhook's own page, and never listed."""

    audits_itself = True  # read by pimsite.admin_site.AuditedModelAdminMixin
    list_display = ("name", "host", "rules", "enabled", "created_at")
    list_filter = ("enabled",)
    search_fields = ("name",)
    readonly_fields = ("secret", "created_at")
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}  # Django 6's default, today

    def get_fields(self, request, obj=None):
        fields = ["name", "url", "rules", "enabled"]
        return fields if obj is None else [*fields, "secret", "created_at"]

    @admin.display(description="Host")
    def host(self, webhook: Webhook) -> str:
        # Not the URL: chat webhook URLs carry their token in the path.
        return urlsplit(webhook.url).hostname or ""

    def save_model(self, request, obj, form, change):
        outbox.save_webhook(actor=request.user, webhook=obj, changed=form.changed_data if change else ())

    def delete_model(self, request, obj):
        outbox.delete_webhook(actor=request.user, webhook=obj)

    def delete_queryset(self, request, queryset):
        for webhook in queryset:
            outbox.delete_webhook(actor=request.user, webhook=webhook)


@admin.register(OutboxMessage)
class OutboxMessageAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Read-only: only delivery changes a message. "Retry now" asks for one more attempt."""

    list_display = ("created_at", "rule", "to", "subject", "status", "attempts", "next_attempt_at", "sent_at")
    list_filter = ("status", "channel", "critical", "rule")
    search_fields = ("subject", "address", "rule")
    date_hierarchy = "created_at"
    list_select_related = ("webhook",)
    actions = ["retry_now"]

    @admin.display(description="To")
    def to(self, message: OutboxMessage) -> str:
        if message.channel == Channel.WEBHOOK:
            return f"webhook {message.webhook or '(deleted)'}"
        return message.address

    @admin.action(description="Retry now (waiting or failed messages)")
    def retry_now(self, request, queryset):
        now = timezone.now()
        retried = sum(outbox.retry_now(actor=request.user, message=message, now=now) for message in queryset)
        skipped = len(queryset) - retried
        self.message_user(request, f"{retried} message(s) queued for delivery now.", messages.SUCCESS)
        if skipped:
            self.message_user(request, f"{skipped} message(s) already sent or being sent were left alone.",
                              messages.WARNING)  # fmt: skip


@admin.register(Alert)
class AlertAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Read-only: alerts are raised, resolved and dismissed by audit.alerts (audited); scan,
    dismiss and fix them on /alerts/."""

    list_display = ("rule_key", "severity", "status", "first_seen", "last_seen", "dismissed_until")
    list_filter = ("severity", "status", "rule_key")
    search_fields = ("rule_key",)
    date_hierarchy = "last_seen"
    list_select_related = ("dismissed_by",)


@admin.register(AlertRuleSetting)
class AlertRuleSettingAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Read-only: change rules on /alerts/settings/, which checks every threshold's range and
    audits the change (alert.settings_updated)."""

    list_display = ("rule_key", "enabled", "thresholds", "updated_at")
    list_filter = ("enabled",)
    search_fields = ("rule_key",)
