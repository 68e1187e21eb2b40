"""Policy as code: `pim_policy export` writes roles, settings, scopes and eligible assignments as
YAML; `plan` lists what a file would change and changes nothing; `apply` makes exactly that
plan through the services, in one transaction, as an active PIM administrator. A bad file is
refused whole, each problem at its line, and nothing changes."""

import subprocess
import sys
from datetime import UTC, datetime, timedelta
from io import StringIO
from pathlib import Path

import pytest
import yaml
from django.contrib.auth.models import Group
from django.core.management import CommandError, call_command

from audit.models import AuditEvent
from roles import services
from roles.models import ApprovalStage, EligibleAssignment, Role, RoleSettings, Scope
from roles.rules import StagePlan
from tests.factories import RoleFactory, root_scope

NOW = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _frozen_clock(time_machine):
    time_machine.move_to(NOW, tick=False)


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path, monkeypatch):
    # Files are named as an operator would type them: "policy.yaml", in the working directory.
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def world(pim_admin, alice, bob, carol):
    """What an install has after some use: scopes, a stage naming bob, a notification rule,
    a custom role, and eligible assignments (a user's permanent one at /, a group's
    time-bound one at a subscription, one with a start that has microseconds)."""
    exchange = Role.objects.get(slug="exchange-administrator")
    prod = services.create_scope(actor=pim_admin, path="/subscriptions/prod", name="Production")
    services.update_role_settings(
        actor=pim_admin, role=exchange, stages=[StagePlan(approvers=(bob,))],
        changes={"require_approval": True, "notification_rules": {
            "role.activated.admin": {"default_recipients": True, "additional_recipients": ["soc@example.com"],
                                     "critical_only": False}}},
    )  # fmt: skip
    services.create_role(actor=pim_admin, slug="mail-auditor", name="Mail Auditor", tier="standard")
    mail_team = Group.objects.create(name="Mail team")
    services.assign_eligible(actor=pim_admin, principal=alice, role=exchange, scope=root_scope(),
                             start_at=NOW, end_at=None, justification="On-call rota")  # fmt: skip
    services.assign_eligible(actor=pim_admin, principal=mail_team, role=exchange, scope=prod,
                             start_at=NOW, end_at=NOW + timedelta(days=90), justification="Mail team")  # fmt: skip
    user_admin = Role.objects.get(slug="user-administrator")
    services.assign_eligible(actor=pim_admin, principal=carol, role=user_admin, scope=root_scope(),
                             start_at=NOW + timedelta(microseconds=123456), end_at=None)  # fmt: skip
    return exchange


def pim_policy(*args) -> str:
    out = StringIO()
    call_command("pim_policy", *args, stdout=out, stderr=StringIO())
    return out.getvalue()


def refused(*args) -> str:
    """What an operator sees when the command refuses (exit status 1): each problem, then the outcome."""
    err = StringIO()
    with pytest.raises(CommandError) as refusal:
        call_command("pim_policy", *args, stdout=StringIO(), stderr=err)
    assert refusal.value.returncode == 1
    return err.getvalue() + str(refusal.value)


def export(name: str = "policy.yaml") -> dict:
    Path(name).write_text(pim_policy("export"))
    return yaml.safe_load(Path(name).read_text())


def write(document: dict, name: str = "policy.yaml") -> str:
    Path(name).write_text(yaml.safe_dump(document, sort_keys=False))
    return name


def line_of(text: str, name: str = "policy.yaml") -> int:
    """The line of the file that holds `text`, as an editor numbers it."""
    return next(number for number, line in enumerate(Path(name).read_text().splitlines(), 1) if text in line)


def role_in(document: dict, slug: str) -> dict:
    return next(role for role in document["roles"] if role["slug"] == slug)


def database() -> dict:
    """Everything a policy file manages, and the audit log, to show that nothing changed."""
    return {
        "roles": list(Role.objects.values().order_by("pk")),
        "settings": list(RoleSettings.objects.values().order_by("pk")),
        "stages": list(ApprovalStage.objects.values().order_by("pk")),
        "scopes": list(Scope.objects.values().order_by("pk")),
        "eligible": list(EligibleAssignment.objects.values().order_by("pk")),
        "events": AuditEvent.objects.count(),
    }


def test_an_export_plans_to_no_change(world):
    export()

    assert pim_policy("plan", "policy.yaml") == "No changes.\n"


def test_an_export_reads_as_the_documented_format(world):
    document = export()

    assert document["version"] == 1
    assert {"path": "/subscriptions/prod", "name": "Production"} in document["scopes"]
    exchange = role_in(document, "exchange-administrator")
    assert exchange["builtin"] is True
    assert exchange["settings"]["approval_stages"] == [
        {"approvers": ["bob"], "approver_groups": [], "approvals_required": 1, "timeout_minutes": 1440,
         "escalate_after_minutes": None, "escalation_approvers": [], "escalation_groups": []}
    ]  # fmt: skip
    assert exchange["settings"]["notifications"]["role.activated.admin"]["additional_recipients"] == ["soc@example.com"]
    assert {"principal": "group:Mail team", "role": "exchange-administrator", "scope": "/subscriptions/prod",
            "start_at": "2026-11-22T09:00:00Z", "end_at": "2027-02-20T09:00:00Z",
            "justification": "Mail team"} in document["eligible_assignments"]  # fmt: skip
    assert "approvers: [bob]" in Path("policy.yaml").read_text()  # names on one line


def test_editing_a_setting_plans_that_line_and_apply_makes_it_with_one_audit_event(world, pim_admin):
    document = export()
    role_in(document, "exchange-administrator")["settings"]["activation_max_minutes"] = 120
    write(document)

    assert pim_policy("plan", "policy.yaml") == (
        "~ role exchange-administrator settings: activation_max_minutes 480 -> 120\n"
        "Plan: 1 to change. Nothing was changed: apply makes these changes.\n"
    )
    assert RoleSettings.objects.get(role=world).activation_max_minutes == 480

    out = pim_policy("apply", "policy.yaml", "--actor", "pimadmin")

    assert "Applied as pimadmin: 1 changed." in out
    assert RoleSettings.objects.get(role=world).activation_max_minutes == 120
    event = AuditEvent.objects.get(action="settings.updated", data__changes__activation_max_minutes=[480, 120])
    assert event.actor == pim_admin
    applied = AuditEvent.objects.get(action="policy.applied")
    assert (applied.actor, applied.data["file"], applied.data["change"]) == (pim_admin, "policy.yaml", 1)


def test_adding_an_eligible_assignment_to_the_file_creates_it(world, pim_admin, dave):
    document = export()
    document["eligible_assignments"].append(
        {"principal": "dave", "role": "mail-auditor", "scope": "/subscriptions/prod",
         "start_at": "2026-11-23T08:00:00Z", "end_at": "2027-01-01T00:00:00Z", "justification": "Audit CHG-7"}
    )  # fmt: skip
    write(document)

    assert pim_policy("plan", "policy.yaml") == (
        "+ eligible dave mail-auditor at /subscriptions/prod from 2026-11-23T08:00:00Z, until 2027-01-01T00:00:00Z\n"
        "Plan: 1 to add. Nothing was changed: apply makes these changes.\n"
    )
    pim_policy("apply", "policy.yaml", "--actor", "pimadmin")

    made = EligibleAssignment.objects.get(principal=dave)
    assert (made.role.slug, made.scope.path, made.justification) == (
        "mail-auditor",
        "/subscriptions/prod",
        "Audit CHG-7",
    )
    assert (made.start_at, made.end_at) == (datetime(2026, 11, 23, 8, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC))
    assert AuditEvent.objects.get(action="assignment.created", principal=dave).actor == pim_admin


def test_removing_an_eligible_assignment_from_the_file_removes_it(world, alice):
    document = export()
    document["eligible_assignments"] = [a for a in document["eligible_assignments"] if a["principal"] != "alice"]
    write(document)

    assert "- eligible alice exchange-administrator at /\n" in pim_policy("plan", "policy.yaml")
    pim_policy("apply", "policy.yaml", "--actor", "pimadmin")

    assignment = EligibleAssignment.objects.get(principal=alice)
    assert (assignment.ended_at, assignment.end_reason) == (NOW, "removed")
    assert EligibleAssignment.objects.open().count() == 2


def test_a_different_end_moves_it_and_a_different_start_replaces_it(world, alice, carol):
    document = export()
    for assignment in document["eligible_assignments"]:
        if assignment["principal"] == "alice":
            assignment["end_at"] = "2027-06-01T00:00:00+02:00"  # any zone; plans and exports say UTC
        if assignment["principal"] == "carol":
            assignment["start_at"] = "2026-12-01T00:00:00Z"
    write(document)

    plan = pim_policy("plan", "policy.yaml")

    assert "~ eligible alice exchange-administrator at /: end_at permanent -> 2027-05-31T22:00:00Z\n" in plan
    assert (
        "-/+ eligible carol user-administrator at /: start_at 2026-11-22T09:00:00Z -> 2026-12-01T00:00:00Z "
        "(replaced: removed and made again)\n"
    ) in plan
    assert "Plan: 1 to change, 1 to replace." in plan
    pim_policy("apply", "policy.yaml", "--actor", "pimadmin")
    assert EligibleAssignment.objects.open().get(principal=alice).end_at == datetime(2027, 5, 31, 22, tzinfo=UTC)
    assert EligibleAssignment.objects.open().get(principal=carol).start_at == datetime(2026, 12, 1, tzinfo=UTC)
    assert EligibleAssignment.objects.filter(principal=carol, end_reason="removed").count() == 1
    assert pim_policy("plan", "policy.yaml") == "No changes.\n"


def test_a_new_role_is_created_with_its_settings_and_stages(world, bob, carol):
    document = export()
    document["scopes"].append({"path": "/subscriptions/test/resourceGroups/web", "name": "Web"})
    document["roles"].append(
        {"slug": "helpdesk-operator", "name": "Helpdesk Operator", "tier": "high",
         "settings": {"activation_max_minutes": 60, "require_approval": True,
                      "approval_stages": [{"approvers": ["bob", "carol"], "approvals_required": 2}]}}
    )  # fmt: skip
    write(document)

    assert pim_policy("plan", "policy.yaml").splitlines() == [
        "+ scope /subscriptions/test (test)",
        "+ scope /subscriptions/test/resourceGroups (resourceGroups)",
        "+ scope /subscriptions/test/resourceGroups/web (Web)",
        "+ role helpdesk-operator (High)",
        "~ role helpdesk-operator settings: activation_max_minutes 480 -> 60",
        "~ role helpdesk-operator settings: require_approval false -> true",
        "~ role helpdesk-operator settings: approval_stages none -> [stage 1: bob, carol; 2 approvals; timeout 24 h]",
        "Plan: 2 to add. Nothing was changed: apply makes these changes.",
    ]
    pim_policy("apply", "policy.yaml", "--actor", "pimadmin")

    role = Role.objects.get(slug="helpdesk-operator")
    assert (role.name, role.tier, role.is_builtin, role.settings.activation_max_minutes) == (
        "Helpdesk Operator", "high", False, 60,
    )  # fmt: skip
    assert list(role.settings.stages.get().approvers.order_by("username")) == [bob, carol]
    assert Scope.objects.get(path="/subscriptions/test/resourceGroups/web").name == "Web"
    export("again.yaml")
    assert pim_policy("plan", "again.yaml") == "No changes.\n"


def test_a_custom_role_left_out_is_kept_unless_pruned(world):
    document = export()
    document["roles"] = [role for role in document["roles"] if role["slug"] != "mail-auditor"]
    write(document)

    assert (
        pim_policy("plan", "policy.yaml") == "= role mail-auditor kept (not in file; --prune deletes it)\nNo changes.\n"
    )
    assert "- role mail-auditor (Mail Auditor)\n" in pim_policy("plan", "policy.yaml", "--prune")

    pim_policy("apply", "policy.yaml", "--actor", "pimadmin", "--prune")

    assert not Role.objects.filter(slug="mail-auditor").exists()
    assert AuditEvent.objects.filter(action="role.deleted", role="mail-auditor").count() == 1


def test_a_pruned_role_that_is_still_assigned_is_kept_and_said_so(world, pim_admin, dave):
    services.assign_eligible(actor=pim_admin, principal=dave, role=Role.objects.get(slug="mail-auditor"),
                             scope=root_scope(), start_at=NOW, end_at=None)  # fmt: skip
    document = export()
    document["roles"] = [role for role in document["roles"] if role["slug"] != "mail-auditor"]
    write(document)

    assert pim_policy("plan", "policy.yaml", "--prune") == (
        "= role mail-auditor kept: not in file, but assignments or requests still name it\nNo changes.\n"
    )


def test_a_built_in_role_is_never_renamed_or_deleted(world):
    document = export()
    role_in(document, "exchange-administrator")["name"] = "Mail Boss"
    write(document)

    assert refused("plan", "policy.yaml").startswith(
        f"policy.yaml line {line_of('name: Mail Boss')}: roles[2].name: exchange-administrator is a built-in role: "
        "its name, tier and description cannot change (its settings can); it is 'Exchange Administrator'."
    )
    document = export()
    document["roles"] = [role for role in document["roles"] if role["builtin"] is False]
    write(document)
    assert pim_policy("plan", "policy.yaml", "--prune") == "No changes.\n"


def test_applying_twice_the_second_is_a_no_op(world):
    document = export()
    role_in(document, "mail-auditor")["tier"] = "high"
    write(document)
    pim_policy("apply", "policy.yaml", "--actor", "pimadmin")
    before = database()

    assert pim_policy("apply", "policy.yaml", "--actor", "pimadmin") == "No changes.\n"
    assert database() == before


OUT_OF_RANGE = """\
version: 1
roles:
  - slug: exchange-administrator
    name: Exchange Administrator
    tier: high
    settings:
      activation_max_minutes: 10
"""
UNKNOWN_ROLE = """\
version: 1
eligible_assignments:
  - principal: alice
    role: exchange-administrator
    scope: /
    end_at: null
  - principal: alice
    role: exchange-admin
    scope: /
    end_at: null
"""
UNKNOWN_KEY = """\
version: 1
scopes:
  - path: /subscriptions/prod
    name: Production
    owner: alice
"""
BAD_YAML = """\
version: 1
roles:
  - slug: exchange-administrator
   name: Exchange Administrator
"""


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (OUT_OF_RANGE, "policy.yaml line 7: roles[0].settings.activation_max_minutes: Activation maximum duration "
                       "must be between 30 min and 24 h; it is 10 min."),
        (UNKNOWN_ROLE, "policy.yaml line 8: eligible_assignments[1].role: No role has the slug 'exchange-admin' in "
                       "the database or under roles in this file."),
        (UNKNOWN_KEY, "policy.yaml line 5: scopes[0].owner: Unknown key 'owner'; allowed here: path, name."),
        (BAD_YAML, "policy.yaml line 4: Not valid YAML: while parsing a block collection, expected <block end>"),
    ],
)  # fmt: skip
@pytest.mark.parametrize("action", [("plan",), ("apply", "--actor", "pimadmin")])
def test_an_invalid_file_is_refused_at_its_line_and_changes_nothing(world, text, message, action):
    Path("policy.yaml").write_text(text)
    before = database()

    shown = refused(action[0], "policy.yaml", *action[1:])

    assert shown.startswith(message)
    assert shown.endswith("policy.yaml refused (1 problem); nothing was changed.")
    assert database() == before


def test_every_problem_is_listed_at_once_in_line_order(world):
    Path("policy.yaml").write_text(
        "version: 1\n"
        "roles:\n"
        "  - slug: mail-auditor\n"
        "    name: Mail Auditor\n"
        "    tier: urgent\n"
        "    settings:\n"
        "      require_approval: true\n"
        "      approval_stages:\n"
        "        - approvers: [bob]\n"
        "          timeout_minutes: 59\n"
        "eligible_assignments:\n"
        "  - principal: zoe\n"
        "    role: mail-auditor\n"
        "    scope: /\n"
        "    end_at: 2027-01-01\n"
    )

    assert refused("plan", "policy.yaml").splitlines() == [
        "policy.yaml line 5: roles[0].tier: Must be one of critical, high, standard; it is 'urgent'.",
        "policy.yaml line 10: roles[0].settings.approval_stages[0].timeout_minutes: Stage 1: approval timeout must "
        "be between 1 h and 14 days; it is 59 min.",
        "policy.yaml line 12: eligible_assignments[0].principal: No account has the username 'zoe'; give the "
        "username of an existing account.",
        "policy.yaml line 15: eligible_assignments[0].end_at: '2027-01-01' is not a date and time in ISO 8601 with "
        "a time zone; write e.g. 2026-12-22T09:00:00Z (a date alone is not accepted).",
        "policy.yaml refused (4 problems); nothing was changed.",
    ]


def test_an_assignment_is_held_to_the_settings_the_file_gives_its_role(world, dave):
    document = export()
    role_in(document, "exchange-administrator")["settings"]["allow_permanent_eligible"] = False
    document["eligible_assignments"].append(
        {"principal": "dave", "role": "exchange-administrator", "scope": "/", "end_at": None}
    )
    write(document)

    assert (
        "eligible_assignments[3].end_at: Exchange Administrator does not allow permanent eligible assignments; set an "
        "end at most 365 days after the start."
    ) in refused("plan", "policy.yaml")


def test_a_refusal_by_a_service_during_apply_rolls_back_every_change(world, pim_admin):
    # Swapping two custom roles' names passes the file's checks, but the first rename collides
    # with the second role's current name, and update_role refuses it.
    RoleFactory(slug="mail-reader", name="Mail Reader")
    document = export()
    document["scopes"].append({"path": "/subscriptions/dev", "name": "Development"})
    role_in(document, "mail-auditor")["name"] = "Mail Reader"
    role_in(document, "mail-reader")["name"] = "Mail Auditor"
    write(document)
    before = database()

    shown = refused("apply", "policy.yaml", "--actor", "pimadmin")

    assert shown.startswith(
        f"policy.yaml line {line_of('name: Mail Reader')}: roles[5].name: Role with this Name already exists."
    )
    assert database() == before
    assert not Scope.objects.filter(path="/subscriptions/dev").exists()


def test_apply_by_a_non_administrator_is_refused_and_changes_nothing(world, alice):
    document = export()
    role_in(document, "exchange-administrator")["settings"]["activation_max_minutes"] = 120
    write(document)
    before = database()

    assert refused("apply", "policy.yaml", "--actor", "alice") == (
        "alice does not hold an active Privileged Role Administrator or Global Administrator assignment at / now; "
        "activate the role first, or name another administrator with --actor."
    )
    assert refused("apply", "policy.yaml", "--actor", "nobody") == (
        "No account has the username 'nobody'; name an existing PIM administrator with --actor."
    )
    assert database() == before


def test_a_missing_file_is_refused_without_a_traceback(db):
    assert refused("plan", "missing.yaml") == "Cannot read missing.yaml: No such file or directory."


def test_from_the_command_line_usage_exits_2_and_a_refusal_1_without_a_traceback(tmp_path):
    # Both are refused before the database is opened, so a scratch database needs no tables.
    env = {"DATABASE_URL": f"sqlite:///{tmp_path / 'scratch.sqlite3'}", "PIM_ENV": "demo", "PATH": "/usr/bin:/bin"}
    Path("policy.yaml").write_text(BAD_YAML)

    def manage(*args):
        return subprocess.run([sys.executable, str(ROOT / "manage.py"), "pim_policy", *args],  # noqa: S603
                              cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)  # fmt: skip

    usage = manage("apply", "policy.yaml")
    assert usage.returncode == 2
    assert "the following arguments are required: --actor" in usage.stderr

    invalid = manage("plan", "policy.yaml")
    assert invalid.returncode == 1
    assert invalid.stderr.startswith("policy.yaml line 4: Not valid YAML:")
    assert "Traceback" not in usage.stderr + invalid.stderr
