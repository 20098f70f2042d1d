"""A dialogue's participants: every peer it is held with (issue 16). A
dialogue recorded before keeps its one partner as its only peer."""

from django.db import migrations, models


def one_partner_is_the_peer_set(apps, schema_editor):
    Dialogue = apps.get_model("dialogue", "Dialogue")
    for dialogue in Dialogue.objects.all():
        dialogue.peers.add(dialogue.peer_id)


class Migration(migrations.Migration):
    dependencies = [
        ("dialogue", "0002_signer_profile"),
        ("federation", "0010_peer_central_authority"),
    ]

    operations = [
        migrations.AddField(
            model_name="dialogue",
            name="peers",
            field=models.ManyToManyField(related_name="shared_dialogues", to="federation.peer"),
        ),
        migrations.RunPython(one_partner_is_the_peer_set, migrations.RunPython.noop),
    ]
