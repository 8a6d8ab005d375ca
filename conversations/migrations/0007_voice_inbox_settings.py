# What a caller hears on an inbox's number and how long the agents' phones ring.

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("conversations", "0006_voice_business_hours"),
    ]

    operations = [
        migrations.AddField(
            model_name="inbox",
            name="voice_greeting",
            field=models.TextField(blank=True, help_text="Said when a call comes in; empty: a default"),
        ),
        migrations.AddField(
            model_name="inbox",
            name="voicemail_prompt",
            field=models.TextField(blank=True, help_text="Said before the beep; empty: a default"),
        ),
        migrations.AddField(
            model_name="inbox",
            name="ring_timeout_s",
            field=models.PositiveSmallIntegerField(default=20),
        ),
        migrations.AddField(
            model_name="inbox",
            name="voicemail_max_s",
            field=models.PositiveSmallIntegerField(
                default=120, help_text="Longest voicemail; Twilio transcribes recordings up to 120 seconds"
            ),
        ),
    ]
