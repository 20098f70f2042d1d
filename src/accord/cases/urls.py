from django.urls import path

from accord.cases import views

app_name = "cases"

urlpatterns = [
    path("cases/", views.case_list, name="list"),
    path("cases/export.csv", views.case_export, name="export"),
    path("cases/new/", views.case_create, name="create"),
    path("cases/<uuid:case_id>/", views.case_detail, name="detail"),
    path("cases/<uuid:case_id>/edit/", views.case_edit, name="edit"),
    path("cases/<uuid:case_id>/status/", views.case_status, name="status"),
    path("cases/<uuid:case_id>/team/", views.case_member, name="member"),
    path("cases/<uuid:case_id>/observables/", views.case_observe, name="observe"),
    path(
        "cases/<uuid:case_id>/observables/<int:observable_id>/remove/",
        views.case_unobserve,
        name="unobserve",
    ),
    path("cases/<uuid:case_id>/subjects/", views.case_subject, name="subject"),
    path("cases/<uuid:case_id>/import/", views.case_import, name="import"),
    path("cases/<uuid:case_id>/imports/<uuid:job_id>/", views.case_import_job, name="import-job"),
    path(
        "cases/<uuid:case_id>/imports/<uuid:job_id>/status/",
        views.case_import_status,
        name="import-status",
    ),
]
