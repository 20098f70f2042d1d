from django.urls import include, path

from accord.api import api
from accord.core import views as core_views
from accord.ops import views as ops_views

urlpatterns = [
    path(".well-known/accord", core_views.well_known, name="well-known"),
    path("healthz", core_views.healthz, name="healthz"),
    path("metrics", ops_views.metrics, name="metrics"),
    path("api/v1/", api.urls),
    path("", include("accord.federation.urls")),
    path("", include("accord.assistance.urls")),
    path("", include("accord.cases.urls")),
    path("", include("accord.matching.urls")),
    path("", include("accord.evidence.urls")),
    path("", include("accord.dialogue.urls")),
    path("", include("accord.intel.urls")),
    path("", include("accord.intel.urls_pages")),
    path("", include("accord.web.urls")),
]
