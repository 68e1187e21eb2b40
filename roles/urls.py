from django.urls import path
from django.views.generic import RedirectView

from roles.views import assignments, breakglass, bulk, discovery, groups, roles, targets

app_name = "manage"

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="manage:roles", permanent=False), name="index"),
    # Roles and their settings (roles/views/roles.py)
    path("roles/", roles.role_list, name="roles"),
    path("roles/new/", roles.role_create, name="role-create"),
    path("roles/<slug:slug>/", roles.role_edit, name="role-edit"),
    path("roles/<slug:slug>/delete/", roles.role_delete, name="role-delete"),
    path("roles/<slug:slug>/settings/", roles.role_settings, name="role-settings"),
    # Assignments and scopes (roles/views/assignments.py)
    path("assignments/", assignments.assignment_list, name="assignments"),
    path("assignments/new/", assignments.assignment_create, name="assignment-create"),
    path("assignments/import/", bulk.assignment_import, name="assignment-import"),  # roles/views/bulk.py
    path("assignments/export.csv", bulk.assignment_export, name="assignment-export"),
    path("assignments/<str:kind>/<int:assignment_id>/", assignments.assignment_detail, name="assignment"),
    path("assignments/<str:kind>/<int:assignment_id>/remove/", assignments.assignment_remove, name="assignment-remove"),
    path("assignments/<str:kind>/<int:assignment_id>/end/", assignments.assignment_end, name="assignment-end"),
    path("scopes/", assignments.scope_list, name="scopes"),
    # Break-glass accounts (roles/views/breakglass.py)
    path("break-glass/", breakglass.break_glass, name="break-glass"),
    path("break-glass/<str:username>/unflag/", breakglass.unflag, name="break-glass-unflag"),
    # PIM for groups (roles/views/groups.py)
    path("groups/", groups.group_list, name="groups"),
    path("groups/<int:group_id>/bring-under-pim/", groups.bring_under_pim, name="group-bring-under-pim"),
    # Discovery: standing access to just-in-time (roles/views/discovery.py)
    path("discovery/", discovery.discovery, name="discovery"),
    path("discovery/<int:assignment_id>/convert/", discovery.convert, name="discovery-convert"),
    path("discovery/roles/<slug:slug>/convert/", discovery.convert_role, name="discovery-convert-role"),
    # Provisioning targets (roles/views/targets.py)
    path("roles/<slug:slug>/targets/", targets.target_list, name="role-targets"),
    path("roles/<slug:slug>/targets/new/", targets.target_create, name="target-create"),
    path("roles/<slug:slug>/targets/<int:target_id>/edit/", targets.target_edit, name="target-edit"),
    path("roles/<slug:slug>/targets/<int:target_id>/delete/", targets.target_delete, name="target-delete"),
    path(
        "roles/<slug:slug>/targets/<int:target_id>/check-drift/", targets.target_check_drift, name="target-check-drift"
    ),
    path(
        "roles/<slug:slug>/targets/<int:target_id>/grants/<int:grant_id>/retry/",
        targets.grant_retry,
        name="grant-retry",
    ),
]
