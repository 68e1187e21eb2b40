"""What the page tests share besides fixtures: the built-in roles, signed-in clients, the
activate page's usual answers, and reading a page the way a person scans it (a section's
rows, a field's error)."""

import html
import re
from datetime import UTC, datetime

from django.test import Client
from django.urls import reverse
from django.utils import timezone

from activations.models import ActivationRequest
from roles import mfa
from roles.choices import ActiveSource
from roles.models import ActiveAssignment, Role
from tests.conftest import verify_session
from tests.factories import EligibleAssignmentFactory

START = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)  # a Sunday morning
JUSTIFICATION = "INC-4711 unlock the helpdesk admin"


def role(slug: str) -> Role:
    return Role.objects.select_related("settings").get(slug=slug)


def eligible(user, slug: str, **fields):
    """`user` is eligible for the built-in role `slug` at '/', permanently unless told."""
    return EligibleAssignmentFactory(principal=user, role=role(slug), **fields)


def mark_mfa_verified(client: Client, *, at: datetime | None = None) -> None:
    """The session last proved a code at `at` (default now), as sign-in and step-up record it."""
    session = client.session
    session[mfa.SESSION_KEY] = (at or timezone.now()).isoformat()
    session.save()


def signed_in(user, *, mfa_verified_at: datetime | None = None) -> Client:
    """A fresh client for `user`: password and code passed, the code at `mfa_verified_at` (default now)."""
    client = Client()
    verify_session(client, user)
    mark_mfa_verified(client, at=mfa_verified_at)
    return client


def activate_url(*eligibilities) -> str:
    return reverse("activations:activate") + "?" + "&".join(f"eligibility={e.pk}" for e in eligibilities)


def answers(*eligibilities, **overrides) -> dict:
    """The activate form as a person fills it: 1 h from now, with a justification."""
    return {
        "eligibility": [e.pk for e in eligibilities],
        "duration": 60,
        "start": "now",
        "justification": JUSTIFICATION,
        **overrides,
    }


def nothing_created() -> bool:
    """No request and no activated assignment: what every refusal leaves behind."""
    return not (
        ActivationRequest.objects.exists() or ActiveAssignment.objects.filter(source=ActiveSource.ACTIVATION).exists()
    )


def text(fragment: str) -> str:
    """Visible text of an HTML fragment: tags dropped, entities decoded, whitespace collapsed."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", fragment)).split())


def section(response, heading_id: str) -> str:
    """The HTML of the page's <section aria-labelledby=heading_id>."""
    found = re.search(rf'<section aria-labelledby="{heading_id}">(.*?)</section>', response.content.decode(), re.S)
    assert found, f"no section {heading_id}"
    return found.group(1)


def rows(fragment: str) -> list[list[str]]:
    """The body rows of the tables in `fragment`, each as its cells' visible text."""
    bodies = "".join(re.findall(r"<tbody>(.*?)</tbody>", fragment, re.S))
    return [
        [text(cell) for cell in re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", row, re.S)]
        for row in re.findall(r"<tr[^>]*>(.*?)</tr>", bodies, re.S)
    ]


def field_errors(response, name: str) -> list[str]:
    """The errors shown beside the form field `name` (see includes/_field.html)."""
    return [
        text(e)
        for e in re.findall(rf'<p class="error" id="id_{name}_error"[^>]*>(.*?)</p>', response.content.decode(), re.S)
    ]


def messages_of(response) -> list[str]:
    return [str(message) for message in response.context["messages"]]


def facts(fragment: str) -> dict[str, str]:
    """A description list's terms and their descriptions, as text."""
    return {
        text(term): text(description)
        for term, description in re.findall(r"<dt>(.*?)</dt>\s*<dd>(.*?)</dd>", fragment, re.S)
    }


def cards(response) -> list[str]:
    """The HTML of each request card in the approvals inbox."""
    return re.findall(
        r'<li class="card request">(.*?)</li>\s*(?=<li class="card request">|</ul>)', response.content.decode(), re.S
    )
