from django.urls import path

from accord.evidence import bulk_views, views

app_name = "evidence"

urlpatterns = [
    path("evidence/", views.item_list, name="list"),
    path("evidence/<uuid:item_id>/", views.item_page, name="item"),
    path("evidence/<uuid:item_id>/download/", views.item_download, name="download"),
    path("evidence/<uuid:item_id>/purge/", views.item_purge, name="purge"),
    path("evidence/<uuid:item_id>/use/ask/", views.ask_use, name="ask-use"),
    path("evidence/<uuid:item_id>/use/answer/", views.answer_use, name="answer-use"),
    path("evidence/export/", views.export, name="export"),
    path("evidence/exports/<uuid:bundle_id>/", views.bundle, name="bundle"),
    path("evidence/<uuid:item_id>/send/", views.item_send, name="send"),
    path("cases/<uuid:case_id>/evidence/", views.upload_to_case, name="add-to-case"),
    path("requests/<uuid:request_id>/evidence/", views.upload_to_request, name="add-to-request"),
    path("evidence/v1/transfers/<uuid:item_id>", bulk_views.transfer_state, name="bulk-state"),
    path(
        "evidence/v1/transfers/<uuid:item_id>/parts/<int:index>",
        bulk_views.part,
        name="bulk-part",
    ),
]
