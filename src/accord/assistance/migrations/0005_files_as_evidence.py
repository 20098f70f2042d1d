"""Response files become evidence items (assistance/legacy_files.py), and the
chunks of the old file transfer go: files travel as evidence now."""

from django.db import migrations


def adopt_files(apps, schema_editor):
    # Only a node that holds files needs the app's code (it signs custody
    # records with the node's key); a new database has none.
    if not apps.get_model("assistance", "ResponseFile").objects.filter(deleted=False).exists():
        return
    from accord.assistance import legacy_files

    found = legacy_files.adopt_all()
    for kind in ("missing", "damaged"):
        for label in found[kind]:
            print(f"  response file {kind}, not moved to evidence: {label}")


class Migration(migrations.Migration):
    dependencies = [
        ("assistance", "0004_request_case"),
        # The latest tables of every app adopt_all reads through the current
        # models (the evidence items, the request's peer, the audit log): an
        # upgrade from the previous release found federation's missing.
        ("evidence", "0005_bulk_parts"),
        ("federation", "0006_audit_checkpoints"),
        ("core", "0004_failure_tally"),
    ]

    operations = [
        migrations.RunPython(adopt_files, migrations.RunPython.noop),
        migrations.DeleteModel(name="FileChunk"),
    ]
