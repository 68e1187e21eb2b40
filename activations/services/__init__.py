"""The just-in-time workflow: activate (one or many roles), decide, cancel, time out, escalate,
deactivate, extend and renew. One function per change: keyword-only arguments, acting user
first, its own durable transaction, rows locked, audit events inside; mail and schedules after
commit. Lock order: request -> role settings -> eligibility -> active assignments, then the
audit chain head (record_event) last."""

from activations.services.activate import request_activation, verify_step_up
from activations.services.decide import decide_request
from activations.services.extend import request_extension, request_renewal, settle_orphaned_extensions
from activations.services.extend_activation import (
    activation_source,
    request_activation_extension,
    verify_extension_step_up,
)
from activations.services.lifecycle import (
    ENDED_BEFORE_START,
    ORPHANED_PENDING,
    cancel_request,
    deactivate,
    due_to_start,
    escalate_requests,
    settle_orphaned_requests,
    start_scheduled,
    time_out_requests,
)
from activations.services.workflow import ActivationsRefused

__all__ = [
    "ENDED_BEFORE_START",
    "ORPHANED_PENDING",
    "ActivationsRefused",
    "activation_source",
    "cancel_request",
    "deactivate",
    "decide_request",
    "due_to_start",
    "escalate_requests",
    "request_activation",
    "request_activation_extension",
    "request_extension",
    "request_renewal",
    "settle_orphaned_extensions",
    "settle_orphaned_requests",
    "start_scheduled",
    "time_out_requests",
    "verify_extension_step_up",
    "verify_step_up",
]
