from django.urls import path

from accord.intel import taxii

app_name = "taxii"

ROOT = "taxii2/<str:root>/"
COLLECTION = ROOT + "collections/<str:collection_id>/"

urlpatterns = [
    path("taxii2/", taxii.discovery, name="discovery"),
    path(ROOT, taxii.api_root, name="api-root"),
    path(ROOT + "collections/", taxii.collections, name="collections"),
    path(COLLECTION, taxii.collection, name="collection"),
    path(COLLECTION + "objects/", taxii.objects, name="objects"),
    path(COLLECTION + "objects/<str:object_id>/", taxii.object_detail, name="object"),
    path(COLLECTION + "objects/<str:object_id>/versions/", taxii.versions, name="versions"),
    path(COLLECTION + "manifest/", taxii.manifest, name="manifest"),
    path(ROOT + "status/<str:status_id>/", taxii.status, name="status"),
]
