from django.urls import path

from accord.matching import views

app_name = "matching"

urlpatterns = [
    path("matching/", views.home, name="home"),
    path("matching/queries/<uuid:query_id>/approve/", views.approve, name="approve"),
    path("matching/queries/<uuid:query_id>/decline/", views.decline, name="decline"),
    path("matching/policies/<str:node_id>/", views.set_policy, name="policy"),
    path("cases/<uuid:case_id>/matching/", views.ask, name="ask"),
    path(
        "cases/<uuid:case_id>/matching/hits/<int:hit_id>/details/",
        views.request_details,
        name="details",
    ),
]
