from django.urls import path

from accord.dialogue import factsheet, signer_views, views

app_name = "dialogue"

urlpatterns = [
    path("dialogue/", views.home, name="home"),
    path("dialogue/new/", views.create, name="create"),
    path("dialogue/signer/", signer_views.signer, name="signer"),
    path("dialogue/<uuid:dialogue_id>/", views.detail, name="detail"),
    path("dialogue/<uuid:dialogue_id>/export/", views.export_view, name="export"),
    path("dialogue/<uuid:dialogue_id>/rounds/", views.round_save, name="round-save"),
    path("dialogue/<uuid:dialogue_id>/disagreements/", views.disagreement, name="disagreement"),
    path("dialogue/rounds/<uuid:round_id>/", views.round_page, name="round"),
    path("dialogue/rounds/<uuid:round_id>/delegation/", views.delegation, name="delegation"),
    path("dialogue/rounds/<uuid:round_id>/outcomes/", views.propose, name="propose"),
    path("dialogue/rounds/<uuid:round_id>/fact-sheet/", factsheet.factsheet, name="factsheet"),
    path(
        "dialogue/rounds/<uuid:round_id>/fact-sheet.pdf",
        factsheet.factsheet_pdf,
        name="factsheet-pdf",
    ),
    path("dialogue/outcomes/<uuid:outcome_id>/amend/", views.amend, name="amend"),
    path("dialogue/outcomes/<uuid:outcome_id>/sign/", views.sign, name="sign"),
    path("dialogue/outcomes/<uuid:outcome_id>/commitments/", views.commitment, name="commitment"),
    path(
        "dialogue/disagreements/<uuid:disagreement_id>/position/", views.position, name="position"
    ),
    path(
        "dialogue/disagreements/<uuid:disagreement_id>/status/",
        views.disagreement_status,
        name="disagreement-status",
    ),
    path(
        "dialogue/commitments/<uuid:commitment_id>/status/",
        views.commitment_status,
        name="commitment-status",
    ),
]
