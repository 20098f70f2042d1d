from django.urls import path

from accord.intel import views

app_name = "intel"

urlpatterns = [
    path("intel/", views.home, name="home"),
    path("intel/objects/<int:pk>/", views.object_detail, name="object"),
    path("intel/import/", views.import_bundle, name="import"),
    path("intel/collections/<uuid:collection_id>/export/", views.export_bundle, name="export"),
]
