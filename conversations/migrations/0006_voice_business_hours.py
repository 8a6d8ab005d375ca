# Business hours on the inbox: shared by voice, web chat and the reports (conversations.hours.is_open).

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("conversations", "0005_inbox_link_list_fields"),
    ]

    operations = [
        migrations.AddField(
            model_name="inbox",
            name="time_zone",
            field=models.CharField(default="UTC", help_text="IANA name, e.g. America/New_York", max_length=64),
        ),
        migrations.AddField(
            model_name="inbox",
            name="business_hours",
            field=models.JSONField(
                blank=True,
                default=dict,
                help_text='Weekly schedule, e.g. {"mon": [["09:00", "17:00"]], ...}; empty means always open',
            ),
        ),
        migrations.AddField(
            model_name="inbox",
            name="holidays",
            field=models.JSONField(
                blank=True,
                default=list,
                help_text="Closed days in the inbox's time zone, e.g. [\"2026-12-25\"]",
            ),
        ),
    ]
