"""The Django admin for access reviews: to look them up, read-only. A review, its occurrences and
their items change only through roles.reviews.services (the /reviews/manage/ pages, the reviewers'
pages and the API), which check the rules and write the audit events; each page here links to
the page that makes the change. Imported by roles/admin.py, which registers the app's admins."""

from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html

from audit.admin_mixins import ReadOnlyAdminMixin
from roles.reviews import selectors
from roles.reviews.choices import OccurrenceStatus
from roles.reviews.models import AccessReview, ReviewItem, ReviewOccurrence

READ_ONLY = "Read-only: create, change, stop and apply access reviews on {}."


class ReviewReadOnlyAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Every field shown, nothing editable, and the changelist says where changes are made."""

    def changelist_view(self, request, extra_context=None):
        manage = reverse("reviews:manage")
        subtitle = format_html(READ_ONLY, format_html('<a href="{}">{}</a>', manage, manage))
        return super().changelist_view(request, {**(extra_context or {}), "subtitle": subtitle})

    def get_readonly_fields(self, request, obj=None):
        return [*super().get_readonly_fields(request, obj), *self.links]

    links: tuple[str, ...] = ()  # computed read-only fields: where to change or see more


class ReviewOccurrenceInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = ReviewOccurrence
    fields = ("number", "status", "starts_at", "ends_at", "completed_at", "stopped_by", "applied_at")
    show_change_link = True
    extra = 0


@admin.register(AccessReview)
class AccessReviewAdmin(ReviewReadOnlyAdmin):
    list_display = ("name", "role_names", "reviewer_type", "recurrence", "start_date", "duration_days", "status",
                    "created_by")  # fmt: skip
    list_filter = ("reviewer_type", "recurrence", "assignment_types", "auto_apply")
    list_select_related = ("created_by",)
    search_fields = ("name", "description", "roles__name", "roles__slug")
    inlines = [ReviewOccurrenceInline]
    links = ("change_it",)

    def get_queryset(self, request):
        # Roles prefetched and the current occurrence's status annotated: a constant number of
        # queries for the changelist, whatever the number of reviews.
        return selectors.reviews_for_console()

    @admin.display(description="roles")
    def role_names(self, review: AccessReview) -> str:
        return ", ".join(role.name for role in review.roles.all())

    @admin.display(description="status")
    def status(self, review: AccessReview) -> str:
        return OccurrenceStatus(review.current_status or OccurrenceStatus.NOT_STARTED).label

    @admin.display(description="change it")
    def change_it(self, review: AccessReview) -> str:
        url = reverse("reviews:detail", args=[review.pk])
        return format_html('<a href="{}">{}</a>', url, url)


@admin.register(ReviewOccurrence)
class ReviewOccurrenceAdmin(ReviewReadOnlyAdmin):
    list_display = ("__str__", "status", "starts_at", "ends_at", "completed_at", "applied_at")
    list_filter = ("status",)
    list_select_related = ("review",)
    search_fields = ("review__name",)
    links = ("items_link", "results_link")

    @admin.display(description="items")
    def items_link(self, occurrence: ReviewOccurrence) -> str:
        url = reverse("admin:roles_reviewitem_changelist") + f"?occurrence__id__exact={occurrence.pk}"
        return format_html('<a href="{}">{}</a>', url, "Every item of this occurrence")

    @admin.display(description="results")
    def results_link(self, occurrence: ReviewOccurrence) -> str:
        url = reverse("reviews:results", args=[occurrence.pk])
        return format_html('<a href="{}">{}</a> (stop, reset, apply)', url, url)


@admin.register(ReviewItem)
class ReviewItemAdmin(ReviewReadOnlyAdmin):
    list_display = ("__str__", "occurrence", "recommendation", "decision", "decided_by", "outcome", "result")
    list_filter = ("decision", "outcome", "result", "occurrence__review")
    list_select_related = ("principal", "group", "role", "scope", "occurrence__review", "decided_by")
    search_fields = ("principal__username", "group__name", "role__name", "scope__path", "justification",
                     "occurrence__review__name")  # fmt: skip
