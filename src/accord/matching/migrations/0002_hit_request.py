"""Hit.request: the request "Request details" drafted from a hit, until now
known only from the audit event it wrote (`matching:hit:details`, whose data
names the request's reference); filled in from those events."""

import django.db.models.deletion
from django.db import migrations, models


def link_from_audit(apps, schema_editor):
    AuditEvent = apps.get_model("core", "AuditEvent")
    Hit = apps.get_model("matching", "Hit")
    AssistanceRequest = apps.get_model("assistance", "AssistanceRequest")
    events = AuditEvent.objects.filter(
        action="matching:hit:details", target_type="matching.hit"
    ).order_by("seq")
    for event in events.iterator():
        reference = (event.data or {}).get("request", "")
        request = AssistanceRequest.objects.filter(reference=reference).first()
        if request is not None and str(event.target_id).isdigit():
            # In the order they happened: the latest request wins.
            Hit.objects.filter(pk=int(event.target_id)).update(request=request)


class Migration(migrations.Migration):
    dependencies = [
        ("assistance", "0004_request_case"),
        ("core", "0001_initial"),
        ("matching", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="hit",
            name="request",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="hits",
                to="assistance.assistancerequest",
            ),
        ),
        migrations.RunPython(link_from_audit, migrations.RunPython.noop),
    ]
