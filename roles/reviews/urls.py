from django.urls import path

from roles.reviews import manage_views, views

app_name = "reviews"

urlpatterns = [
    # Reviewers (roles/reviews/views.py)
    path("", views.inbox, name="inbox"),
    path("<int:occurrence_id>/", views.review, name="review"),
    path("<int:occurrence_id>/decide/", views.decide, name="decide"),
    path("<int:occurrence_id>/accept/", views.accept_recommendations, name="accept"),
    # Privileged Role Administrators (roles/reviews/manage_views.py)
    path("manage/", manage_views.review_list, name="manage"),
    path("manage/new/", manage_views.review_create, name="create"),
    path("manage/<int:review_id>/", manage_views.review_detail, name="detail"),
    path("manage/<int:review_id>/edit/", manage_views.review_edit, name="edit"),
    path("manage/<int:review_id>/delete/", manage_views.review_delete, name="delete"),
    path("manage/occurrences/<int:occurrence_id>/", manage_views.results, name="results"),
    path("manage/occurrences/<int:occurrence_id>/results.csv", manage_views.results_csv, name="results-csv"),
    path("manage/occurrences/<int:occurrence_id>/stop/", manage_views.stop, name="stop"),
    path("manage/occurrences/<int:occurrence_id>/reset/", manage_views.reset, name="reset"),
    path("manage/occurrences/<int:occurrence_id>/apply/", manage_views.apply, name="apply"),
]
