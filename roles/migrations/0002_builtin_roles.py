from django.db import migrations


def create_builtin_roles(apps, schema_editor):
    from roles.builtin import ensure_builtin_roles

    ensure_builtin_roles(apps.get_model("roles", "Role"), apps.get_model("roles", "RoleSettings"),
                         apps.get_model("roles", "Scope"))


class Migration(migrations.Migration):
    """The nine built-in roles with Entra's default settings, and the directory root scope."""

    dependencies = [("roles", "0001_initial")]

    operations = [migrations.RunPython(create_builtin_roles, migrations.RunPython.noop)]
