"""A fresh node has a collection a partner account can be given rights on."""

import uuid

from django.db import migrations


def create(apps, schema_editor):
    Collection = apps.get_model("intel", "Collection")
    Collection.objects.get_or_create(
        alias="shared",
        defaults={
            "id": uuid.uuid4(),
            "title": "Shared indicators",
            "description": "Indicators shared with partner agencies.",
        },
    )


class Migration(migrations.Migration):
    dependencies = [("intel", "0001_initial")]
    operations = [migrations.RunPython(create, migrations.RunPython.noop)]
