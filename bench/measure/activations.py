"""6. Activations through the API from concurrent clients, and the audit events they leave."""

import json
from collections import Counter

from django.test import Client
from django.utils import timezone
from django_otp.oath import totp

from activations.models import ActivationRequest
from audit.models import AuditChainHead, AuditEvent
from bench import load
from bench.measure.common import Plan, Profiles, Server, breakdown, fail_on, paired
from bench.report import Figure
from bench.seed import Seeded

ACTIVATION_JUSTIFICATION = "INC-48213 benchmark: unlock helpdesk admin"


def activations(server: Server, seeded: Seeded, plan: Plan, profiles: Profiles) -> list[Figure]:
    """Concurrent POST /api/v1/activation-requests/ (a bearer token and a fresh TOTP code, one user each,
    roles without approval) against a bare POST; then every 201 checked against the audit log."""
    users = seeded.activation_users[: plan.activations]
    per_round = len(users) // plan.activation_rounds
    head_before = AuditChainHead.objects.get(pk=1).last_sequence
    started_at = timezone.now()

    def body(entry) -> bytes:
        code = f"{totp(bytes.fromhex(entry.totp_key)):06d}"
        return json.dumps(
            {
                "role": entry.role,
                "scope": entry.scope,
                "duration_minutes": 60,
                "justification": ACTIVATION_JUSTIFICATION,
                "otp": code,
            }
        ).encode()

    def maker(path, batch):
        return lambda i: load.request_bytes(
            "POST",
            path,
            host=server.host_header,
            body=body(batch[i]),
            headers={"Authorization": f"Bearer {batch[i].token}"},
        )

    base_runs, figure_runs = [], []
    warm = load.burst(server.address, maker("/api/bench/bare/", users), 20, concurrency=4, expect=(201,))
    fail_on(warm, "bare POST warm-up")
    for index in range(plan.activation_rounds):
        batch = users[index * per_round : (index + 1) * per_round]
        base_runs.append(
            load.burst(
                server.address,
                maker("/api/bench/bare/", batch),
                len(batch),
                concurrency=plan.activation_concurrency,
                expect=(201,),
            )
        )
        fail_on(base_runs[-1], "bare POST")
        figure_runs.append(
            load.burst(
                server.address,
                maker("/api/v1/activation-requests/", batch),
                len(batch),
                concurrency=plan.activation_concurrency,
                expect=(201,),
            )
        )
    used = users[: per_round * plan.activation_rounds]
    errors = [failure for run in figure_runs for failure in run.failures]
    created = [json.loads(r.body) for run in figure_runs for r in run.responses if r.status == 201]
    problems = _audit_exactness(
        created, head_before=head_before, since=started_at, usernames=[u.username for u in used]
    )
    spare = seeded.activation_users[plan.activations :]
    client = Client()

    def activate(i: int):
        entry = spare[i]
        response = client.post("/api/v1/activation-requests/", body(entry), content_type="application/json",
                               headers={"authorization": f"Bearer {entry.token}"})  # fmt: skip
        if response.status_code != 201:
            raise RuntimeError(f"in-process activation answered {response.status_code}: {response.content[:300]!r}")

    per_call = min(10, (len(spare) - 1) // 2)
    where = breakdown("6. POST /api/v1/activation-requests/", activate, per_call, profiles) if per_call else ""
    figures = [
        paired(
            base_runs,
            figure_runs,
            number=6,
            name="Activations through the API (MFA code, no approval)",
            unit="req/s",
            baseline_name="bare POST view",
            limit=None,
            kind="throughput",
            notes=[
                f"{plan.activation_concurrency} concurrent clients, one activation per user, "
                f"{plan.activation_rounds} rounds of {per_round}; each with a fresh TOTP code",
                where,
            ],
        )
    ]
    figures.append(
        Figure(
            number=6,
            name="Activation errors",
            value=len(errors),
            unit=f"of {len(used)}",
            baseline=0,
            baseline_name="expected",
            ratio=len(errors) / max(len(used), 1),
            ratio_means="error rate",
            goal="0",
            passed=not errors,
            notes=errors[:5],
        )
    )
    checked = problems.pop("checked")
    wrong = sum(problems.values())
    figures.append(
        Figure(
            number=6,
            name="Activation audit events lost or doubled",
            value=wrong,
            unit=f"of {checked} expected",
            baseline=0,
            baseline_name="expected",
            ratio=(checked - wrong) / max(checked, 1),
            ratio_means="exact ÷ expected",
            goal="0",
            passed=wrong == 0 and checked > 0,
            notes=[
                "per request id: one activation.requested; per assignment: one assignment.activated; per user: one "
                f"auth.mfa_verified; and the requests stored match the 201s: {problems}"
            ],
        )
    )
    return figures


def _audit_exactness(created: list[dict], *, head_before: int, since, usernames: list[str]) -> dict:
    """Count the events the activations wrote, per request id, assignment id and requester."""
    events = AuditEvent.objects.filter(sequence__gt=head_before)
    requested = Counter(events.filter(action="activation.requested").values_list("target_id", flat=True))
    activated = Counter(events.filter(action="assignment.activated").values_list("target_id", flat=True))
    verified = Counter(events.filter(action="auth.mfa_verified").values_list("actor_username", flat=True))
    problems = Counter()
    for request in created:
        problems["request events not exactly one"] += requested[str(request["id"])] != 1
        problems["assignment events not exactly one"] += activated[str(request["assignment"])] != 1
        problems["requesters without exactly one auth.mfa_verified"] += verified[request["requester"]] != 1
    answered = {request["id"] for request in created}
    stored = set(
        ActivationRequest.objects.filter(requester__username__in=usernames, created_at__gte=since).values_list(
            "pk", flat=True
        )
    )
    problems["stored requests never answered 201"] = len(stored - answered)
    problems["events for requests never answered 201"] = len({int(t) for t in requested} - answered)
    problems["checked"] = 3 * len(created)
    return dict(problems)
