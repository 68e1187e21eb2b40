"""Access reviews under /api/v1/. Thin: parse, call the same service or selector as the
/reviews/ pages, render. Roles are named by slug, scopes by path, users by username and groups
by name, as everywhere in the API.

Administrators (roles.permissions.PIMAdministrator; anyone else 403 on a collection, 404 on an
object): /reviews/ to list, create, read, change and delete reviews; /reviews/<id>/occurrences/
and /review-occurrences/<id>/... for results, stopping, resetting and applying. Reviewers (any
caller): /my-reviews/, their inbox, and the items they review; an occurrence in which they review
nothing is a 404. Bad input is a 400 naming the field, the rule and the range, and changes
nothing; what the object's state forbids (a review already started, an occurrence no longer in
progress or not yet completed) is a 409."""

from contextlib import contextmanager

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.exceptions import PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from drf_spectacular.utils import extend_schema, extend_schema_field, inline_serializer
from rest_framework import generics, serializers, status
from rest_framework.exceptions import ValidationError as ApiValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from roles.api import UNKNOWN_ROLE, UNKNOWN_SCOPE, Administration, Conflict
from roles.models import Role, Scope
from roles.reviews import selectors, services
from roles.reviews.choices import (
    EndType,
    NoResponse,
    OccurrenceStatus,
    Recurrence,
    ReviewDecision,
    ReviewedTypes,
    ReviewerType,
)
from roles.reviews.models import AccessReview, ReviewItem, ReviewOccurrence
from roles.reviews.rules import CHOICES, NOT_A_CHOICE

UNKNOWN_USER = "No active user has the username '%(value)s'."
UNKNOWN_GROUP = "No group is named '%(value)s'."
MAX_ITEMS = 1000  # items decided in one call
MAX_NAMES = 200  # roles, scopes, reviewers or groups named in one review
MAX_ID = 2**31 - 1
# The services' refusals that say the object's state forbids the change: 409, not 400.
STATE_CONFLICTS = {"review_started", "not_in_progress", "not_completed"}


@contextmanager
def _state_conflicts():
    """A service's refusal because of the review's or occurrence's state, as a 409; a reviewer
    naming an item they do not review, as a 400 on `items`; other refusals pass on (400)."""
    try:
        yield
    except PermissionDenied as refusal:  # roles.reviews.services.deciding: NOT_A_REVIEWER
        raise ApiValidationError({"items": [str(refusal)]}) from None
    except DjangoValidationError as refusal:
        code = getattr(refusal, "code", None)
        if code in STATE_CONFLICTS:
            raise Conflict(" ".join(refusal.messages), code=code) from None
        raise


def _choice(field: str, **options) -> serializers.ChoiceField:
    """A choice of the review's settings, refused with the rule's own words and every choice."""
    label, choices = CHOICES[field]
    message = NOT_A_CHOICE % {"label": label, "value": "{input}", "choices": ", ".join(choices.values)}
    return serializers.ChoiceField(choices=choices.choices, error_messages={"invalid_choice": message}, **options)


# Serializers -----------------------------------------------------------------------------------


class CurrentOccurrenceSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    number = serializers.IntegerField()
    status = serializers.CharField(help_text="in_progress, completed, applying or applied.")
    ends_at = serializers.DateTimeField()


class ReviewSerializer(serializers.ModelSerializer):
    """A review as its settings, with the people and scopes by name, and where it stands."""

    roles = serializers.SlugRelatedField(slug_field="slug", many=True, read_only=True)
    scopes = serializers.SlugRelatedField(slug_field="path", many=True, read_only=True,
                                          help_text="Empty: every scope.")  # fmt: skip
    reviewers = serializers.SlugRelatedField(slug_field="username", many=True, read_only=True)
    reviewer_groups = serializers.SlugRelatedField(slug_field="name", many=True, read_only=True)
    fallback_reviewer = serializers.SlugRelatedField(slug_field="username", read_only=True)
    created_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    status = serializers.SerializerMethodField(
        help_text="The latest started occurrence's status: not_started, in_progress, completed, applying or applied."
    )
    current_occurrence = serializers.SerializerMethodField(
        help_text="The latest occurrence that has started; null before the first starts."
    )
    next_starts_at = serializers.DateTimeField(
        read_only=True, allow_null=True, help_text="When the next occurrence starts; null if none is planned."
    )

    class Meta:
        model = AccessReview
        fields = ("id", "name", "description", "roles", "scopes", "assignment_types", "inactive_days",
                  "reviewer_type", "reviewers", "reviewer_groups", "fallback_reviewer", "start_date", "time_zone",
                  "duration_days", "recurrence", "end_type", "end_date", "end_after_occurrences", "auto_apply",
                  "no_response", "require_justification", "reminder_days_before", "extra_recipients", "status",
                  "current_occurrence", "next_starts_at", "created_by", "created_at", "updated_at")  # fmt: skip
        read_only_fields = fields

    def get_status(self, review) -> str:
        return review.current_status or OccurrenceStatus.NOT_STARTED

    @extend_schema_field(CurrentOccurrenceSerializer(allow_null=True))
    def get_current_occurrence(self, review) -> dict | None:
        if review.current_pk is None:
            return None
        return {"id": review.current_pk, "number": review.current_number, "status": review.current_status,
                "ends_at": serializers.DateTimeField().to_representation(review.current_ends_at)}  # fmt: skip


class ReviewInputSerializer(serializers.Serializer):
    """Every setting of a review, as roles.reviews.services take them; names resolved to rows in
    validate(). On POST, what is left out takes the default shown; on PATCH, what is left out
    stays. Ranges are the services' (roles.reviews.rules), named in the 400."""

    name = serializers.CharField(max_length=150)
    description = serializers.CharField(required=False, allow_blank=True, default="")
    roles = serializers.ListField(child=serializers.SlugField(max_length=100), max_length=MAX_NAMES,
                                  help_text="Role slugs; at least one.")  # fmt: skip
    scopes = serializers.ListField(child=serializers.CharField(max_length=400), max_length=MAX_NAMES, required=False,
                                   default=list, help_text="Scope paths: assignments there or below. "
                                   "Empty: every scope.")  # fmt: skip
    assignment_types = _choice("assignment_types", required=False, default=ReviewedTypes.BOTH)
    inactive_days = serializers.IntegerField(required=False, allow_null=True, default=None,
                                             help_text="Only holders who have not used the role for this many days "
                                             "(1 to 730). Null: every holder.")  # fmt: skip
    reviewer_type = _choice("reviewer_type", required=False, default=ReviewerType.USERS)
    reviewers = serializers.ListField(child=serializers.CharField(max_length=150), max_length=MAX_NAMES,
                                      required=False, default=list, help_text="Usernames. With reviewer_groups, at "
                                      "least one name when reviewer_type is users.")  # fmt: skip
    reviewer_groups = serializers.ListField(child=serializers.CharField(max_length=150), max_length=MAX_NAMES,
                                            required=False, default=list, help_text="Group names.")  # fmt: skip
    fallback_reviewer = serializers.CharField(
        max_length=150, required=False, allow_null=True, default=None,
        help_text="A username; required when reviewer_type is approvers.",
    )  # fmt: skip
    start_date = serializers.DateField(help_text="Today or later, in time_zone; occurrences start at local midnight.")
    time_zone = serializers.CharField(max_length=64, required=False, default="UTC")
    duration_days = serializers.IntegerField(required=False, default=14,
                                             help_text="1 to 180 days; less than the recurrence's period.")  # fmt: skip
    recurrence = _choice("recurrence", required=False, default=Recurrence.ONE_TIME)
    end_type = _choice("end_type", required=False, default=EndType.NEVER)
    end_date = serializers.DateField(required=False, allow_null=True, default=None,
                                     help_text="Only with end_type on_date.")  # fmt: skip
    end_after_occurrences = serializers.IntegerField(required=False, allow_null=True, default=None,
                                                     help_text="Only with end_type after_count: 1 to 100.")  # fmt: skip
    auto_apply = serializers.BooleanField(required=False, default=False)
    no_response = _choice("no_response", required=False, default=NoResponse.NO_CHANGE)
    require_justification = serializers.BooleanField(required=False, default=True)
    reminder_days_before = serializers.IntegerField(
        required=False, allow_null=True, default=None, help_text="1 to less than duration_days. Null: no reminder."
    )
    extra_recipients = serializers.ListField(child=serializers.CharField(max_length=254), max_length=MAX_NAMES,
                                             required=False, default=list,
                                             help_text="Email addresses (at most 10).")  # fmt: skip

    def validate(self, values: dict) -> dict:
        """Each name as its row; 400 naming every unknown one. One query per kind of name given."""
        User = get_user_model()
        active_users = (User.objects.filter(is_active=True), User.USERNAME_FIELD, UNKNOWN_USER)
        lookups = {
            "roles": (Role.objects.all(), "slug", UNKNOWN_ROLE),
            "scopes": (Scope.objects.all(), "path", UNKNOWN_SCOPE),
            "reviewers": active_users,
            "reviewer_groups": (Group.objects.all(), "name", UNKNOWN_GROUP),
            "fallback_reviewer": active_users,
        }
        errors = {}
        for field, (rows, key, message) in lookups.items():
            given = values.get(field)
            if not given:
                continue
            names = list(dict.fromkeys([given] if isinstance(given, str) else given))
            found = {getattr(row, key): row for row in rows.filter(**{f"{key}__in": names})}
            errors[field] = [message % {"value": name} for name in names if name not in found]
            resolved = [found[name] for name in names if name in found]
            values[field] = resolved[0] if isinstance(given, str) and resolved else resolved
        errors = {field: messages for field, messages in errors.items() if messages}
        if errors:
            raise serializers.ValidationError(errors)
        return values


class OccurrenceSerializer(serializers.ModelSerializer):
    review_name = serializers.CharField(source="review.name", read_only=True)
    status = serializers.CharField(read_only=True,
                                   help_text="not_started, in_progress, completed, applying or applied.")  # fmt: skip
    stopped_by = serializers.SlugRelatedField(slug_field="username", read_only=True,
                                              help_text="Who stopped it before its end.")  # fmt: skip
    applied_by = serializers.SlugRelatedField(slug_field="username", read_only=True,
                                              help_text="Null with applied_at: applied automatically.")  # fmt: skip
    total = serializers.IntegerField(read_only=True, help_text="Assignments under review.")
    decided = serializers.IntegerField(read_only=True, help_text="Of which a reviewer has decided.")

    class Meta:
        model = ReviewOccurrence
        fields = ("id", "review", "review_name", "number", "status", "starts_at", "ends_at", "started_at",
                  "completed_at", "stopped_by", "reminded_at", "applied_at", "applied_by", "total",
                  "decided")  # fmt: skip
        read_only_fields = fields


class ReviewerItemSerializer(serializers.ModelSerializer):
    """One assignment under review as its reviewer sees it: who holds what, how it was used,
    what PIM recommends and the decision so far."""

    kind = serializers.CharField(read_only=True, help_text='"eligible" or "active".')
    principal = serializers.SlugRelatedField(slug_field="username", read_only=True,
                                             help_text="The user's username; null for a group's.")  # fmt: skip
    group = serializers.SlugRelatedField(slug_field="name", read_only=True,
                                         help_text="The group's name; null for a user's.")  # fmt: skip
    role = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    role_name = serializers.CharField(source="role.name", read_only=True)
    scope = serializers.SlugRelatedField(slug_field="path", read_only=True)
    recommendation = serializers.CharField(read_only=True, help_text="keep or remove.")
    decision = serializers.CharField(read_only=True, help_text="approve, deny or dont_know; empty: not decided.")
    decided_by = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = ReviewItem
        fields = ("id", "kind", "principal", "group", "role", "role_name", "scope", "assigned_since",
                  "assigned_until", "last_activated_at", "recent_activations", "last_sign_in_at", "recommendation",
                  "recommendation_reason", "decision", "justification", "decided_by", "decided_at")  # fmt: skip
        read_only_fields = fields


class ResultItemSerializer(ReviewerItemSerializer):
    """An item with its reviewers, the outcome fixed at the close, and what applying did."""

    reviewers = serializers.SerializerMethodField()
    outcome = serializers.CharField(read_only=True, help_text="keep or remove; empty until the occurrence ends.")
    outcome_source = serializers.CharField(read_only=True,
                                           help_text="reviewer, no_response or recommendation.")  # fmt: skip
    result = serializers.CharField(
        read_only=True, help_text="removed, kept, protected or already_ended; empty until applied."
    )

    class Meta(ReviewerItemSerializer.Meta):
        fields = (*ReviewerItemSerializer.Meta.fields, "reviewers", "eligible_assignment", "active_assignment",
                  "outcome", "outcome_source", "result", "result_note", "applied_at")  # fmt: skip
        read_only_fields = fields

    def get_reviewers(self, item) -> list[str]:
        return [user.get_username() for user in item.reviewer_list]  # prefetched by selectors.results


class InboxSerializer(serializers.ModelSerializer):
    review_name = serializers.CharField(source="review.name", read_only=True)
    description = serializers.CharField(source="review.description", read_only=True)
    require_justification = serializers.BooleanField(source="review.require_justification", read_only=True,
                                                     help_text="An approval needs a justification.")  # fmt: skip
    mine = serializers.IntegerField(read_only=True, help_text="Assignments the caller reviews here.")
    mine_decided = serializers.IntegerField(read_only=True, help_text="Of which the caller has decided.")

    class Meta:
        model = ReviewOccurrence
        fields = ("id", "review", "review_name", "description", "number", "starts_at", "ends_at",
                  "require_justification", "mine", "mine_decided")  # fmt: skip
        read_only_fields = fields


class DecideSerializer(serializers.Serializer):
    items = serializers.ListField(child=serializers.IntegerField(min_value=1, max_value=MAX_ID), max_length=MAX_ITEMS,
                                  help_text="Ids of items the caller reviews in this occurrence.")  # fmt: skip
    decision = serializers.ChoiceField(
        choices=ReviewDecision.choices,
        error_messages={"invalid_choice": f"Decision: '{{input}}' is not one of {', '.join(ReviewDecision.values)}."},
    )
    justification = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="",
                                          help_text="Required to approve when the review asks for it.")  # fmt: skip


class AcceptSerializer(serializers.Serializer):
    items = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=MAX_ID), max_length=MAX_ITEMS, required=False,
        help_text="Left out: every item the caller has not decided yet.",
    )  # fmt: skip


ChangedSerializer = inline_serializer("ReviewItemsChanged", {
    "changed": serializers.IntegerField(help_text="Items whose decision changed."),
})  # fmt: skip
ResetSerializer = inline_serializer("ReviewOccurrenceReset", {
    "cleared": serializers.IntegerField(help_text="Decisions cleared."),
    "occurrence": OccurrenceSerializer(),
})  # fmt: skip
ApplySerializer = inline_serializer("ReviewOccurrenceApplied", {
    "applied": serializers.IntegerField(help_text="Items this call applied; 0 when they all were already."),
    "occurrence": OccurrenceSerializer(),
})  # fmt: skip


# Reads -----------------------------------------------------------------------------------------


def _reviews():
    """selectors.reviews_for_console with all the serializer shows: the people and scopes (one
    query each, whatever the rows)."""
    return (
        selectors.reviews_for_console()
        .select_related("created_by", "fallback_reviewer")
        .prefetch_related("scopes", "reviewers", "reviewer_groups")
    )


def _review(review_id: int) -> AccessReview:
    found = _reviews().filter(pk=review_id).first()
    if found is None:
        raise Http404
    return found


def _occurrence(occurrence_id: int) -> ReviewOccurrence:
    """The occurrence with its progress (selectors.occurrence_progress); 404 otherwise."""
    occurrences = ReviewOccurrence.objects.filter(pk=occurrence_id).select_related("review", "stopped_by",
                                                                                   "applied_by")  # fmt: skip
    found = selectors.occurrence_progress(occurrences).first()
    if found is None:
        raise Http404
    return found


def _with_end(values: dict, given: dict) -> dict:
    """On PATCH, an end field kept from before an end_type change is cleared; one sent with
    another end is left for the services to refuse (roles.reviews.schedule.check_schedule)."""
    for field, end_type in (("end_date", EndType.ON_DATE), ("end_after_occurrences", EndType.AFTER_COUNT)):
        if values["end_type"] != end_type and field not in given:
            values[field] = None
    return values


# Administrators --------------------------------------------------------------------------------


class Reviews(Administration, generics.ListAPIView):
    """GET: every access review, newest first, with where it stands (status, current occurrence,
    next start). POST: a review and its first occurrence, which starts at local midnight of
    start_date (201). Administrators only: anyone else 403."""

    serializer_class = ReviewSerializer

    def get_queryset(self):
        return _reviews()

    @extend_schema(summary="List access reviews")
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    @extend_schema(summary="Create an access review", request=ReviewInputSerializer, responses={201: ReviewSerializer})
    def post(self, request):
        body = ReviewInputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        values = _with_end(dict(body.validated_data), given=body.validated_data)
        review = services.create_review(actor=request.user, values=values)
        return Response(ReviewSerializer(_review(review.pk)).data, status=status.HTTP_201_CREATED)


class ReviewDetail(Administration, APIView):
    """GET one review. PATCH any of its settings (the rest stay); once its first occurrence has
    started, what it reviews and its rhythm are fixed (400 naming each). DELETE a review that has
    not started (204); one that has is a 409: stop its occurrence instead. Administrators only:
    anyone else 404."""

    hides_objects = True

    @extend_schema(summary="Read an access review", responses=ReviewSerializer)
    def get(self, request, review_id: int):
        return Response(ReviewSerializer(_review(review_id)).data)

    @extend_schema(summary="Change an access review", request=ReviewInputSerializer, responses=ReviewSerializer)
    def patch(self, request, review_id: int):
        review = _review(review_id)
        body = ReviewInputSerializer(data=request.data, partial=True)
        body.is_valid(raise_exception=True)
        values = _with_end(services.values_of(review) | body.validated_data, given=body.validated_data)
        services.update_review(actor=request.user, review=review, values=values)
        return Response(ReviewSerializer(_review(review_id)).data)

    @extend_schema(summary="Delete an access review that has not started", request=None, responses={204: None})
    def delete(self, request, review_id: int):
        review = _review(review_id)
        with _state_conflicts():
            services.delete_review(actor=request.user, review=review)
        return Response(status=status.HTTP_204_NO_CONTENT)


class ReviewOccurrences(Administration, generics.ListAPIView):
    """A review's occurrences, newest first, each with how many items it has and how many are
    decided. Administrators only: anyone else 404."""

    serializer_class = OccurrenceSerializer
    hides_objects = True

    @extend_schema(summary="List a review's occurrences")
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        review = AccessReview.objects.filter(pk=self.kwargs["review_id"]).first()
        if review is None:
            raise Http404
        return selectors.occurrence_progress(review.occurrences.select_related("review", "stopped_by", "applied_by"))


class OccurrenceResults(Administration, generics.ListAPIView):
    """Every item of an occurrence, newest first: its reviewers, decision, the outcome fixed at
    the close and what applying did. Administrators only: anyone else 404."""

    serializer_class = ResultItemSerializer
    hides_objects = True

    @extend_schema(summary="List an occurrence's results")
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        occurrence = ReviewOccurrence.objects.filter(pk=self.kwargs["occurrence_id"]).first()
        if occurrence is None:
            raise Http404
        return selectors.results(occurrence=occurrence)


class StopOccurrence(Administration, APIView):
    """End an occurrence in progress now: each item's outcome is fixed by its decision or the
    review's no-response rule, and the results are applied if the review applies them
    automatically. One not in progress is a 409. Administrators only: anyone else 404."""

    hides_objects = True

    @extend_schema(summary="Stop an occurrence before its end", request=None, responses=OccurrenceSerializer)
    def post(self, request, occurrence_id: int):
        occurrence = _occurrence(occurrence_id)
        with _state_conflicts():
            services.stop_occurrence(actor=request.user, occurrence=occurrence)
        return Response(OccurrenceSerializer(_occurrence(occurrence_id)).data)


class ResetOccurrence(Administration, APIView):
    """Clear every decision of an occurrence in progress: its reviewers start over. One not in
    progress is a 409. Administrators only: anyone else 404."""

    hides_objects = True

    @extend_schema(summary="Reset an occurrence's decisions", request=None, responses=ResetSerializer)
    def post(self, request, occurrence_id: int):
        occurrence = _occurrence(occurrence_id)
        with _state_conflicts():
            cleared = services.reset_decisions(actor=request.user, occurrence=occurrence)
        return Response({"cleared": cleared, "occurrence": OccurrenceSerializer(_occurrence(occurrence_id)).data})


class ApplyOccurrence(Administration, APIView):
    """End the assignments a completed occurrence removes (never the last permanent Global
    Administrator nor a break-glass account's). Safe to repeat: a second call applies nothing
    more. One not yet completed is a 409. Administrators only: anyone else 404."""

    hides_objects = True

    @extend_schema(summary="Apply an occurrence's results", request=None, responses=ApplySerializer)
    def post(self, request, occurrence_id: int):
        occurrence = _occurrence(occurrence_id)
        with _state_conflicts():
            applied = services.apply_results(actor=request.user, occurrence=occurrence)
        return Response({"applied": applied, "occurrence": OccurrenceSerializer(_occurrence(occurrence_id)).data})


# Reviewers -------------------------------------------------------------------------------------


def _reviewed(request, occurrence_id: int) -> ReviewOccurrence:
    """The occurrence if the caller reviews something in it; 404 otherwise, so ids cannot be probed."""
    occurrence = selectors.occurrence_for_reviewer(user=request.user, occurrence_id=occurrence_id)
    if occurrence is None:
        raise Http404
    return occurrence


class MyReviews(generics.ListAPIView):
    """The caller's inbox: occurrences in progress in which they review something, soonest end
    first, each with how many items are theirs and how many of those they have decided."""

    serializer_class = InboxSerializer
    pagination_class = None  # an inbox: everything waiting, in deadline order

    @extend_schema(summary="List the reviews waiting for the caller")
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        return selectors.inbox(user=self.request.user)


class MyReviewItems(generics.ListAPIView):
    """The items the caller reviews in one occurrence (open or ended), newest first, with usage,
    PIM's recommendation and the decision so far. An occurrence in which they review nothing is
    a 404."""

    serializer_class = ReviewerItemSerializer

    @extend_schema(summary="List the items the caller reviews in an occurrence")
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        occurrence = _reviewed(self.request, self.kwargs["occurrence_id"])
        return selectors.items_for_reviewer(user=self.request.user, occurrence=occurrence)


class DecideItems(APIView):
    """Approve, deny or "don't know" one or several items the caller reviews, until the
    occurrence ends (then 409); a later decision replaces an earlier one. An item the caller
    does not review is a 400 naming it; an occurrence in which they review nothing, a 404."""

    @extend_schema(summary="Decide on items under review", request=DecideSerializer, responses=ChangedSerializer)
    def post(self, request, occurrence_id: int):
        occurrence = _reviewed(request, occurrence_id)
        body = DecideSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        values = body.validated_data
        with _state_conflicts():
            changed = services.decide(actor=request.user, occurrence=occurrence, item_ids=values["items"],
                                      decision=values["decision"], justification=values["justification"])  # fmt: skip
        return Response({"changed": changed})


class AcceptRecommendations(APIView):
    """Decide as PIM recommends (approve what it would keep, deny what it would remove), the
    recommendation's reason as the justification: the items given, or every item the caller
    has not decided yet."""

    @extend_schema(summary="Accept PIM's recommendations", request=AcceptSerializer, responses=ChangedSerializer)
    def post(self, request, occurrence_id: int):
        occurrence = _reviewed(request, occurrence_id)
        body = AcceptSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        with _state_conflicts():
            changed = services.accept_recommendations(actor=request.user, occurrence=occurrence,
                                                      item_ids=body.validated_data.get("items"))  # fmt: skip
        return Response({"changed": changed})


urlpatterns_v1 = [
    ("reviews/", Reviews, "api-reviews"),
    ("reviews/<int:review_id>/", ReviewDetail, "api-review"),
    ("reviews/<int:review_id>/occurrences/", ReviewOccurrences, "api-review-occurrences"),
    ("review-occurrences/<int:occurrence_id>/results/", OccurrenceResults, "api-review-occurrence-results"),
    ("review-occurrences/<int:occurrence_id>/stop/", StopOccurrence, "api-review-occurrence-stop"),
    ("review-occurrences/<int:occurrence_id>/reset/", ResetOccurrence, "api-review-occurrence-reset"),
    ("review-occurrences/<int:occurrence_id>/apply/", ApplyOccurrence, "api-review-occurrence-apply"),
    ("my-reviews/", MyReviews, "api-my-reviews"),
    ("my-reviews/<int:occurrence_id>/items/", MyReviewItems, "api-my-review-items"),
    ("my-reviews/<int:occurrence_id>/decide/", DecideItems, "api-my-review-decide"),
    ("my-reviews/<int:occurrence_id>/accept-recommendations/", AcceptRecommendations, "api-my-review-accept"),
]
