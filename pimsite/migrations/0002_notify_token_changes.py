import importlib

from django.db import migrations

# As roles 0012 does for the tables an access decision reads: a token lookup kept in memory
# (roles.until_changed) is forgotten when a token is revoked, changed or deleted. A new token
# needs nothing: only tokens found are kept. last_used_at, written once a minute, does not count.
roles_0012 = importlib.import_module("roles.migrations.0012_notify_access_changes")
TRIGGERS = {"pimsite_apitoken": "UPDATE OF digest, permissions, expires_at, revoked_at, user_id OR DELETE OR TRUNCATE"}


def create(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(roles_0012.create_triggers_sql(TRIGGERS), params=None)


def drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(roles_0012.drop_triggers_sql(TRIGGERS), params=None)


class Migration(migrations.Migration):
    dependencies = [("pimsite", "0001_api_tokens"), ("roles", "0012_notify_access_changes")]

    operations = [migrations.RunPython(create, drop)]
