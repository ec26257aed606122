# Data migration: the sample components shown by GET /db after `migrate`.

from django.db import migrations

SAMPLE_TITLES = ["Engine", "Probes", "Metrics"]


def create_sample_components(apps, schema_editor):
    Component = apps.get_model("components", "Component")
    db_alias = schema_editor.connection.alias
    for title in SAMPLE_TITLES:
        Component.objects.using(db_alias).get_or_create(title=title)


def delete_sample_components(apps, schema_editor):
    Component = apps.get_model("components", "Component")
    db_alias = schema_editor.connection.alias
    Component.objects.using(db_alias).filter(title__in=SAMPLE_TITLES).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("components", "0001_initial"),
    ]

    operations = [
        migrations.RunPython(create_sample_components, delete_sample_components),
    ]
