"""The demo user the example signs in with: alice / wonderland."""

from django.contrib.auth.hashers import make_password
from django.db import migrations


def create_alice(apps, schema_editor):  # type: ignore[no-untyped-def]
    user_model = apps.get_model("auth", "User")
    if not user_model.objects.filter(username="alice").exists():
        user_model.objects.create(username="alice", password=make_password("wonderland"))


class Migration(migrations.Migration):
    dependencies = [("auth", "0012_alter_user_first_name_max_length")]
    operations = [migrations.RunPython(create_alice, migrations.RunPython.noop)]
