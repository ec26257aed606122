from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True
    dependencies: list[tuple[str, str]] = []

    operations = [
        migrations.CreateModel(
            name="Message",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False)),
                ("message_id", models.CharField(max_length=64, unique=True)),
                ("routing_key", models.CharField(max_length=255)),
                ("body", models.TextField()),
                ("content_type", models.CharField(blank=True, max_length=100)),
                ("header", models.CharField(blank=True, max_length=100)),
            ],
        ),
        migrations.CreateModel(
            name="Handled",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False)),
                ("message_id", models.CharField(db_index=True, max_length=64)),
                ("redelivered", models.BooleanField(default=False)),
            ],
        ),
    ]
