from django.db import migrations

# Pruning (audit.retention.prune) is the one DELETE the table allows, and only when all three hold:
# the session says so (SET LOCAL pim.audit_allow_prune = 'on', in prune's transaction), a signed
# checkpoint covers the row (sequence <= the newest checkpoint's), and it is a DELETE (UPDATE is
# always refused). TRUNCATE keeps its test-only switch from migration 0002. As there, anyone who
# can set the switch could also drop the trigger: the signed checkpoint and the hash chain, not
# the trigger, are what prove the log untouched.
ALLOW_PRUNE = """
CREATE OR REPLACE FUNCTION audit_event_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'TRUNCATE' AND coalesce(current_setting('pim.audit_allow_truncate', true), '') = 'on' THEN
        RETURN NULL;
    END IF;
    IF TG_OP = 'DELETE'
       AND coalesce(current_setting('pim.audit_allow_prune', true), '') = 'on'
       AND OLD.sequence <= (SELECT coalesce(max(sequence), 0) FROM audit_auditcheckpoint) THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'audit events are append-only: % on % refused', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END;
$$;
"""

# The function as migration 0002 created it.
REFUSE_ALL = """
CREATE OR REPLACE FUNCTION audit_event_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'TRUNCATE' AND coalesce(current_setting('pim.audit_allow_truncate', true), '') = 'on' THEN
        RETURN NULL;
    END IF;
    RAISE EXCEPTION 'audit events are append-only: % on % refused', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END;
$$;
"""


def allow_prune(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(ALLOW_PRUNE, params=None)  # the SQL has literal % signs


def refuse_all(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(REFUSE_ALL, params=None)


class Migration(migrations.Migration):
    dependencies = [("audit", "0006_siem_retention_verification")]

    operations = [migrations.RunPython(allow_prune, refuse_all)]
