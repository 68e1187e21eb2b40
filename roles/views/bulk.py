"""The /manage/ console's CSV import and export of eligible assignments. An upload is checked
and shown row by row, changing nothing; the preview carries the file, signed, to the confirm
button, which has services.import_eligible_assignments check it again and make all or none."""

from django import forms
from django.contrib import messages
from django.core import signing
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods

from roles import bulk, services
from roles.forms import AssignmentFilterForm
from roles.permissions import pim_administrator_required
from roles.views.assignments import _assignments

TEMPLATE = "manage/assignments_import.html"
SIGNING_SALT = "roles.views.bulk.import"
PREVIEW_MAX_AGE = 60 * 60  # seconds a preview can be confirmed for
FILE_REQUIRED = "Choose a CSV file to upload."
PREVIEW_REFUSED = (
    "This preview cannot be confirmed: it was changed after it was made, or it is more than an hour old. "
    "Nothing was imported; upload the file again."
)
EXPORT_REFUSED = "Nothing was exported: a filter is not valid. %(problems)s"
NOTHING_IMPORTED = (
    "Nothing was imported: %(count)s of %(total)s rows cannot be imported. Fix them and upload the file again."
)


class _Text:
    """The CSV text as signed bytes (UTF-8), not JSON: half the size for non-ASCII text."""

    def dumps(self, text: str) -> bytes:
        return text.encode()

    def loads(self, data: bytes) -> str:
        return data.decode()


class ImportFileForm(forms.Form):
    """The upload. Reads and parses the whole file; the rows are checked by the view."""

    file = forms.FileField(
        label="CSV file",
        error_messages={"required": FILE_REQUIRED, "empty": bulk.HEADER_WRONG % {"header": "empty"}},
        help_text=f"UTF-8, with the header row {bulk.HEADER}; at most 1 MB and 5,000 rows.",
    )

    def clean_file(self):
        upload = self.cleaned_data["file"]
        text = bulk.decode_csv(upload.read(bulk.MAX_BYTES + 1))
        self.rows = bulk.parse_csv(text)
        return text


class ImportConfirmForm(forms.Form):
    """The previewed file, signed, so that what is confirmed is exactly what was shown."""

    payload = forms.CharField(widget=forms.HiddenInput)

    @staticmethod
    def sign(text: str) -> str:
        return signing.dumps(text, salt=SIGNING_SALT, serializer=_Text, compress=True)

    def clean_payload(self):
        try:
            return signing.loads(
                self.cleaned_data["payload"], salt=SIGNING_SALT, serializer=_Text, max_age=PREVIEW_MAX_AGE
            )
        except (signing.BadSignature, UnicodeDecodeError):  # SignatureExpired is a BadSignature
            raise ValidationError(PREVIEW_REFUSED, code="preview_refused") from None


@pim_administrator_required
@require_http_methods(["GET", "POST"])
def assignment_import(request: HttpRequest) -> HttpResponse:
    if "payload" in request.POST:
        return _confirm(request)
    # Not `request.POST or None`: an upload may post nothing but the file.
    form = ImportFileForm(request.POST if request.method == "POST" else None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        results = bulk.check_rows(form.rows, now=timezone.now())
        return _render_preview(request, results, text=form.cleaned_data["file"])
    return render(request, TEMPLATE, {"form": form})


def _confirm(request: HttpRequest) -> HttpResponse:
    confirm = ImportConfirmForm(request.POST)
    if not confirm.is_valid():
        return render(request, TEMPLATE, {"form": ImportFileForm(), "refusal": confirm.errors["payload"]}, status=400)
    text = confirm.cleaned_data["payload"]
    try:
        created = services.import_eligible_assignments(
            actor=request.user, rows=bulk.parse_csv(text), now=timezone.now()
        )
    except bulk.ImportRefused as refusal:
        # Something changed since the preview (an assignment made, a setting tightened).
        return _render_preview(request, refusal.results, text=text)
    except ValidationError as refusal:  # the file itself, should the limits have changed since
        return render(request, TEMPLATE, {"form": ImportFileForm(), "refusal": refusal.messages}, status=400)
    count = len(created)
    messages.success(request, f"Imported {count} eligible assignment{'s' if count != 1 else ''}.")
    return redirect("manage:assignments")


def _render_preview(request: HttpRequest, results: list[bulk.RowResult], *, text: str) -> HttpResponse:
    bad = [result for result in results if not result.ok]
    context = {
        "form": ImportFileForm(),
        "results": results,
        "bad": bad,
        "summary": NOTHING_IMPORTED % {"count": len(bad), "total": len(results)} if bad else "",
        # Offered only when every row is good: the import is all or nothing.
        "confirm": None if bad else ImportConfirmForm(initial={"payload": ImportConfirmForm.sign(text)}),
    }
    return render(request, TEMPLATE, context)


@pim_administrator_required
@require_GET
def assignment_export(request: HttpRequest) -> HttpResponse:
    """Eligible assignments not ended, with the list's filters, as a CSV file that imports again."""
    filter_form = AssignmentFilterForm(request.GET)
    filters = filter_form.filters()
    if filter_form.errors:
        # The list drops a bad filter and says so. A file cannot say so, and more than was asked
        # is worse than nothing.
        problems = " ".join(
            f"{filter_form.fields[name].label}: {' '.join(errors)}" for name, errors in filter_form.errors.items()
        )
        return HttpResponseBadRequest(EXPORT_REFUSED % {"problems": problems}, content_type="text/plain; charset=utf-8")
    now = timezone.now()
    # The list's own query (one per type, rows preloaded); the file holds eligible ones only.
    assignments = _assignments(at=now, filters=filters | {"type": "eligible"})
    response = StreamingHttpResponse(bulk.export_lines(assignments), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="eligible-assignments-{now:%Y%m%dT%H%MZ}.csv"'
    return response
