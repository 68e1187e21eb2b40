from django.contrib import admin
from django.urls import include, path

from pimsite import alert_views, audit_views, dashboard, views

accounts = (
    [
        path("login/", views.login, name="login"),
        path("verify/", views.verify, name="verify"),
        path("enrol/", views.enrol, name="enrol"),
        path("backup-codes/", views.backup_codes, name="backup-codes"),
        path("password/", views.change_password, name="password"),
        path("notifications/", views.notifications, name="notifications"),
        path("logout/", views.logout, name="logout"),
    ],
    "accounts",
)

audit = (
    [
        path("", audit_views.events, name="events"),
        path("mine/", audit_views.my_events, name="mine"),
        path("events/<int:sequence>/", audit_views.event, name="event"),
        path("export.csv", audit_views.export_csv, name="export-csv"),
        path("export.jsonl", audit_views.export_jsonl, name="export-jsonl"),
    ],
    "audit",
)

alerts = (
    [
        path("", alert_views.alert_list, name="list"),
        path("scan/", alert_views.scan_now, name="scan"),
        path("settings/", alert_views.alert_settings, name="settings"),
        path("<int:alert_id>/dismiss/", alert_views.dismiss, name="dismiss"),
        path("<int:alert_id>/fix/", alert_views.fix, name="fix"),
    ],
    "alerts",
)

urlpatterns = [
    # First: a gateway asks /api/v1/check/ for every request it serves, and Django tries the
    # patterns in order (the empty-prefix includes below would each be walked before it).
    path("api/", include("pimsite.api_urls")),
    path("", views.home, name="home"),
    path("accounts/", include(accounts)),
    path("", include("activations.urls")),
    path("manage/", include("roles.urls")),
    path("reviews/", include("roles.reviews.urls")),
    path("audit/", include(audit)),
    path("alerts/", include(alerts)),
    path("dashboard/", dashboard.dashboard, name="dashboard"),
    path("account/tokens/", views.api_tokens, name="account-tokens"),
    path("account/tokens/<int:token_id>/revoke/", views.revoke_api_token, name="account-token-revoke"),
    path("admin/refused/", views.admin_refused, name="admin-refused"),
    path("admin/", admin.site.urls),
    path("healthz", views.healthz, name="healthz"),
]
