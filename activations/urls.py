from django.urls import path

from activations import views

app_name = "activations"

urlpatterns = [
    path("my-roles/", views.my_roles, name="my-roles"),
    path("my-roles/activate/", views.activate, name="activate"),
    path("my-roles/provisioning.json", views.provisioning_state, name="provisioning"),  # polled by pim.js
    path("my-roles/<int:assignment_id>/deactivate/", views.deactivate, name="deactivate"),
    path("approvals/", views.approvals, name="approvals"),
    path("approvals/<int:request_id>/decide/", views.decide, name="decide"),
    path("requests/<int:request_id>/", views.request_detail, name="request"),
    path("requests/<int:request_id>/cancel/", views.cancel, name="cancel"),
    # Extend and renew
    path("my-roles/<int:assignment_id>/extend/", views.extend_activation, name="extend-activation"),
    path("my-roles/<str:kind>/<int:assignment_id>/extend/", views.request_extension, name="request-extension"),
    path("my-roles/<str:kind>/<int:assignment_id>/renew/", views.request_renewal, name="request-renewal"),
    path("approvals/<int:request_id>/decide-change/", views.decide_change, name="decide-change"),
]
