from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("reports", "0003_alter_auditlog_action"),
    ]

    operations = [
        migrations.AlterField(
            model_name="auditlog",
            name="action",
            field=models.CharField(
                choices=[
                    ("export", "Export"),
                    ("login", "Login"),
                    ("erase", "Erase a customer"),
                    ("retention", "Retention (a policy changed, or data removed by one)"),
                    ("redact", "Redact a message"),
                ],
                max_length=32,
            ),
        ),
    ]
