"""The figures. Each alternates rounds of its baseline and itself (baseline, figure, baseline,
figure, ...), so that the machine's noise, which moves absolute times two-fold between runs, falls
on both alike; a ratio is the median of the per-round ratios. One module per figure of issue 10."""

from bench.measure.access import access_decision
from bench.measure.activations import activations
from bench.measure.audit_pages import audit_pages
from bench.measure.common import FULL_PLAN, QUICK_PLAN, Plan, Profiles, Server
from bench.measure.exactness import exactness
from bench.measure.my_roles import my_roles
from bench.measure.sweep import expiry_sweep
from bench.measure.verify import verify_audit

__all__ = [
    "FULL_PLAN",
    "QUICK_PLAN",
    "Plan",
    "Profiles",
    "Server",
    "access_decision",
    "activations",
    "audit_pages",
    "exactness",
    "expiry_sweep",
    "my_roles",
    "verify_audit",
]
