"""Reads are staged, then sealed into the chain (core.audit.record_read, seal).

On PostgreSQL a staged read is as protected as a chained event: it is never
changed, and it is removed only by the sealer, once an event that seals it
(`staged_id`) exists; so deleting a read before it is sealed needs the same
table ownership as rewriting the chain."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

CREATE = """
CREATE OR REPLACE FUNCTION accord_audit_staged_sealed_only() RETURNS trigger AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM core_auditevent WHERE staged_id = OLD.id) THEN
        RAISE EXCEPTION 'the audit log is append-only: staged read % is not sealed yet', OLD.id
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN OLD;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER core_auditstaged_append_only
    BEFORE UPDATE ON core_auditstaged
    FOR EACH ROW EXECUTE FUNCTION accord_audit_append_only();
CREATE TRIGGER core_auditstaged_sealed_only
    BEFORE DELETE ON core_auditstaged
    FOR EACH ROW EXECUTE FUNCTION accord_audit_staged_sealed_only();
"""

DROP = """
DROP TRIGGER IF EXISTS core_auditstaged_sealed_only ON core_auditstaged;
DROP TRIGGER IF EXISTS core_auditstaged_append_only ON core_auditstaged;
DROP FUNCTION IF EXISTS accord_audit_staged_sealed_only();
"""


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE, params=None)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP, params=None)


class Migration(migrations.Migration):
    dependencies = [
        ("core", "0002_audit_append_only"),
    ]

    operations = [
        migrations.AddField(
            model_name="auditevent",
            name="staged_id",
            field=models.BigIntegerField(blank=True, editable=False, null=True, unique=True),
        ),
        migrations.CreateModel(
            name="AuditStaged",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("at", models.DateTimeField()),
                ("actor", models.CharField(max_length=200)),
                ("action", models.CharField(max_length=100)),
                ("target_type", models.CharField(blank=True, max_length=100)),
                ("target_id", models.CharField(blank=True, max_length=200)),
                ("data", models.JSONField(default=dict)),
                ("ip", models.CharField(blank=True, max_length=64)),
                (
                    "actor_user",
                    models.ForeignKey(
                        blank=True,
                        db_constraint=False,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
        ),
        migrations.RunPython(forwards, backwards),
    ]
