"""An SMS opt-out becomes a Suppression of the number (a keyed hash) instead of a flag on one identity, so it
outlives the identity's erasure; the opt-outs recorded so far are carried over."""

from django.db import migrations, models
from django.utils.crypto import salted_hmac


def _key(channel, address):
    # As contacts.models.suppression_key at the time of writing (a migration must not follow later edits).
    return salted_hmac("contacts.Suppression", f"{channel}:{address}", algorithm="sha256").hexdigest()


def carry_over(apps, schema_editor):
    Identity = apps.get_model("contacts", "Identity")
    Suppression = apps.get_model("contacts", "Suppression")
    for address, at in Identity.objects.filter(kind="phone", opted_out_at__isnull=False).values_list(
        "address", "opted_out_at"
    ):
        Suppression.objects.get_or_create(channel="sms", key=_key("sms", address), defaults={"created_at": at})


def carry_back(apps, schema_editor):
    Identity = apps.get_model("contacts", "Identity")
    Suppression = apps.get_model("contacts", "Suppression")
    for identity in Identity.objects.filter(kind="phone"):
        found = Suppression.objects.filter(channel="sms", key=_key("sms", identity.address)).first()
        if found is not None:
            Identity.objects.filter(pk=identity.pk).update(opted_out_at=found.created_at)


class Migration(migrations.Migration):
    dependencies = [
        ("contacts", "0008_contact_name_sort_index"),
    ]

    operations = [
        migrations.CreateModel(
            name="Suppression",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("channel", models.CharField(choices=[("sms", "SMS (STOP)")], max_length=16)),
                ("key", models.CharField(max_length=64)),
                ("created_at", models.DateTimeField(help_text="When the customer asked to stop")),
            ],
            options={
                "constraints": [models.UniqueConstraint(fields=("channel", "key"), name="suppression_unique")],
            },
        ),
        migrations.RunPython(carry_over, carry_back),
        migrations.RemoveField(model_name="identity", name="opted_out_at"),
    ]
