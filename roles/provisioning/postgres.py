"""Target kind "postgres_role": GRANT <role> TO <login> on an external PostgreSQL server. The
connection string is read from an environment variable whose name is the only thing stored."""

import os
import re

import psycopg
from psycopg import sql

from roles.provisioning.kinds import LOGIN_ATTRIBUTES, Access, ProvisioningError, login_by_attribute, params_error

VARIABLE = re.compile(r"^[A-Z][A-Z0-9_]{0,99}$")
PARAMS_HELP = (
    "Parameters: 'dsn_variable' names the environment variable holding the connection string (capitals, digits "
    "and _), 'role' is the PostgreSQL role to grant (at most 63 characters), and 'login_attribute' says how a "
    "PIM user is named there: one of %(attributes)s."
)
CONNECT_TIMEOUT = 10  # seconds


class PostgresRoleKind:
    key = "postgres_role"
    label = "PostgreSQL role"
    params_help = '{"dsn_variable": "PIM_REPORTING_DB", "role": "reporting_read", "login_attribute": "username"}'

    def check_params(self, params: dict) -> dict:
        variable, role = params.get("dsn_variable"), params.get("role")
        attribute = params.get("login_attribute", "username")
        if (
            not isinstance(variable, str)
            or not VARIABLE.match(variable)
            or not isinstance(role, str)
            or not 0 < len(role) <= 63
            or attribute not in LOGIN_ATTRIBUTES
        ):
            raise params_error(PARAMS_HELP, attributes=", ".join(LOGIN_ATTRIBUTES))
        return {"dsn_variable": variable, "role": role, "login_attribute": attribute}

    def can_list(self, target) -> bool:
        return True

    def login_of(self, target, user) -> str:
        return login_by_attribute(user, target.params.get("login_attribute", "username"))

    def _connect(self, target) -> psycopg.Connection:
        variable = target.params["dsn_variable"]
        dsn = os.environ.get(variable)
        if not dsn:
            raise ProvisioningError(f"the environment variable {variable} (the connection string) is not set")
        try:
            return psycopg.connect(dsn, autocommit=True, connect_timeout=CONNECT_TIMEOUT)
        except psycopg.ProgrammingError as error:  # a malformed connection string
            raise ProvisioningError(f"the connection string in {variable} is not valid: {error}") from None
        except psycopg.Error as error:
            raise ProvisioningError(f"cannot connect with {variable}: {str(error).strip()}") from None

    def _run(self, access: Access, *, granting: bool) -> None:
        role = access.target.params["role"]
        with self._connect(access.target) as connection:
            try:
                exists = connection.execute(
                    "SELECT rolname FROM pg_roles WHERE rolname = ANY(%s)", [[role, access.login]]
                ).fetchall()
                found = {row[0] for row in exists}
                if role not in found:
                    raise ProvisioningError(f"the role {role} does not exist on the server")
                if access.login not in found:
                    raise ProvisioningError(f"the login {access.login} does not exist on the server")
                member = self._members(connection, role)
                if granting and access.login not in member:
                    connection.execute(
                        sql.SQL("GRANT {} TO {}").format(sql.Identifier(role), sql.Identifier(access.login))
                    )
                elif not granting and access.login in member:
                    connection.execute(
                        sql.SQL("REVOKE {} FROM {}").format(sql.Identifier(role), sql.Identifier(access.login))
                    )
            except psycopg.Error as error:
                raise ProvisioningError(f"PostgreSQL refused: {str(error).strip()}") from None

    @staticmethod
    def _members(connection, role: str) -> set[str]:
        rows = connection.execute(
            "SELECT member.rolname FROM pg_auth_members m JOIN pg_roles granted ON granted.oid = m.roleid "
            "JOIN pg_roles member ON member.oid = m.member WHERE granted.rolname = %s",
            [role],
        ).fetchall()
        return {row[0] for row in rows}

    def grant(self, access: Access) -> None:
        self._run(access, granting=True)

    def revoke(self, access: Access) -> None:
        self._run(access, granting=False)

    def list_grants(self, target) -> set[str]:
        with self._connect(target) as connection:
            try:
                return self._members(connection, target.params["role"])
            except psycopg.Error as error:
                raise ProvisioningError(f"PostgreSQL refused: {str(error).strip()}") from None
