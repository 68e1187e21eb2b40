from audit.alerts import open_alert_count
from pimsite.audit_views import acts_as_audit_reader
from roles.permissions import acts_as_pim_administrator


def pim(request) -> dict:
    """What the base layout needs: whether to show the admin and audit links. Lazy: pages that
    do not render the navigation pay no query; the audit check, asked first, answers both."""
    return {
        "is_pim_administrator": lambda: acts_as_pim_administrator(request),
        "is_audit_reader": lambda: acts_as_audit_reader(request),
        # "Alerts (N)": asked only inside {% if is_audit_reader %}, so one query on readers' pages only.
        "open_alert_count": open_alert_count,
    }
