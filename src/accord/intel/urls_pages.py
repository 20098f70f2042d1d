from django.urls import path

from accord.intel import collection_pages, views

app_name = "intel"

COLLECTION = "intel/collections/<uuid:collection_id>/"

urlpatterns = [
    path("intel/", views.home, name="home"),
    path("intel/objects/<int:pk>/", views.object_detail, name="object"),
    path("intel/import/", views.import_bundle, name="import"),
    path("intel/imports/<uuid:status_id>/", views.import_status, name="status"),
    path(COLLECTION + "export/", views.export_bundle, name="export"),
    path("intel/sharing/", collection_pages.sharing, name="sharing"),
    path(COLLECTION + "share/", collection_pages.share, name="share"),
    path(COLLECTION + "unshare/", collection_pages.unshare, name="unshare"),
    path(COLLECTION + "subscribe/", collection_pages.subscribe, name="subscribe"),
    path(COLLECTION + "unsubscribe/", collection_pages.unsubscribe, name="unsubscribe"),
]
