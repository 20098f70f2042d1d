from django.urls import path

from accord.assistance import lists, prints, views

app_name = "assistance"

urlpatterns = [
    path("requests/", lists.request_list, name="list"),
    path("requests/export.csv", lists.request_export, name="export"),
    path("requests/new/", views.request_create, name="create"),
    path("requests/<uuid:request_id>/", views.request_detail, name="detail"),
    path("requests/<uuid:request_id>/edit/", views.request_edit, name="edit"),
    path("requests/<uuid:request_id>/step/", views.request_step, name="step"),
    path("requests/<uuid:request_id>/findings/", views.request_finding, name="finding"),
    path("requests/<uuid:request_id>/team/", views.request_member, name="member"),
    path("requests/<uuid:request_id>/case/", views.request_case, name="case"),
    path("requests/<uuid:request_id>/files/<str:sha256>/", views.request_file, name="file"),
    path("requests/<uuid:request_id>/print/", prints.request_print, name="print"),
    path("requests/<uuid:request_id>/pdf/", prints.request_pdf, name="pdf"),
]
