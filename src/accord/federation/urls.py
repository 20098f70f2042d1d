from django.urls import path

from accord.federation import note_views, views

app_name = "federation"

urlpatterns = [
    path("federation/v1/inbox", views.inbox, name="inbox"),
    path("federation/v1/checkpoints", views.checkpoints, name="checkpoints"),
    path("federation/v1/recovery", views.recovery_ask, name="recovery"),
    path("federation/", views.channel, name="channel"),
    path("federation/peers/add/", views.peer_add, name="peer-add"),
    path("federation/peers/<str:node_id>/remove/", views.peer_remove, name="peer-remove"),
    path("federation/peers/<str:node_id>/reconcile/", views.peer_reconcile, name="peer-reconcile"),
    path("federation/retry/", views.outbox_retry, name="retry"),
    path("federation/messages/<uuid:message_id>/", views.message_detail, name="message"),
    path("notes/", note_views.note_list, name="notes"),
    path("notes/read/", note_views.notes_read, name="notes-read"),
    path("notes/<uuid:thread_id>/", note_views.note_thread, name="note-thread"),
]
