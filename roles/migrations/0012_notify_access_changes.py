from django.db import migrations

# roles.until_changed: each process keeps access decisions and API tokens in memory until a
# write to a table they are read from. These statement triggers send NOTIFY pim_changed when
# such a write commits, whoever makes it (the ORM, the admin, a migration, psql). Only the
# columns an access decision or a token lookup reads count (a sign-in's last_login does not).
# PostgreSQL sends one notification per transaction however many statements fire it.
FUNCTION = """
CREATE OR REPLACE FUNCTION pim_notify_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('pim_changed', '');
    RETURN NULL;
END;
$$;
"""
TRIGGERS = {
    "roles_activeassignment": "INSERT OR UPDATE OR DELETE OR TRUNCATE",
    "roles_role": "INSERT OR UPDATE OF slug OR DELETE OR TRUNCATE",
    "roles_scope": "INSERT OR UPDATE OF path OR DELETE OR TRUNCATE",
    "auth_user": "INSERT OR UPDATE OF username, is_active OR DELETE OR TRUNCATE",
    "auth_user_groups": "INSERT OR UPDATE OR DELETE OR TRUNCATE",
}


def create_triggers_sql(triggers: dict[str, str]) -> str:
    return "".join(
        f"CREATE TRIGGER {table}_notify_changed AFTER {events} ON {table} "
        f"FOR EACH STATEMENT EXECUTE FUNCTION pim_notify_changed();\n"
        for table, events in triggers.items()
    )


def drop_triggers_sql(triggers: dict[str, str]) -> str:
    return "".join(f"DROP TRIGGER IF EXISTS {table}_notify_changed ON {table};\n" for table in triggers)


def create(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(FUNCTION + create_triggers_sql(TRIGGERS), params=None)


def drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(drop_triggers_sql(TRIGGERS) + "DROP FUNCTION IF EXISTS pim_notify_changed();", params=None)


class Migration(migrations.Migration):
    dependencies = [
        ("roles", "0011_expiry_notice_due"),
        ("auth", "0012_alter_user_first_name_max_length"),
    ]

    operations = [migrations.RunPython(create, drop)]
