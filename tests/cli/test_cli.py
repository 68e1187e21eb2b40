"""The `pim` command-line client: parsing and configuration on their own, then the installed
console script against a live server, as a script or a person would run it.

The end-to-end tests run `.venv/bin/pim` in a subprocess with PIM_URL and PIM_TOKEN and no
config file. Most use roles set to need no code, so no test needs two codes in one 30 s step;
the MFA tests use one code each, from alice's device on the RFC 6238 test key."""

import ast
import json
import os
import re
import socket
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from django.core.cache import cache

from activations.models import ActivationRequest
from pimcli import main as cli
from pimcli.client import ApiError
from pimcli.config import ConfigError, load_config
from pimcli.formatting import parse_duration, parse_ticket, show_minutes, time_left
from pimsite.services import create_api_token
from roles.choices import ActiveSource
from roles.models import ActiveAssignment, Role
from roles.rules import StagePlan
from roles.services import update_role_settings
from tests.conftest import current_code
from tests.factories import ActiveAssignmentFactory, EligibleAssignmentFactory, ScopeFactory

PIM = Path(sys.executable).with_name("pim")  # the console script pyproject.toml installs
REASON = "INC-4711 unlock the helpdesk admin"
live = pytest.mark.django_db(transaction=True)  # live_server needs committed rows


# Parsing the command line ----------------------------------------------------------------------


@pytest.mark.parametrize(("text", "minutes"), [("2h", 120), ("90m", 90), ("1h30m", 90), ("1H5M", 65), (" 45m ", 45)])
def test_durations_are_read_as_minutes(text, minutes):
    assert parse_duration(text) == minutes


@pytest.mark.parametrize("text", ["", "90", "2x", "1.5h", "-1h", "h", "30m1h", "0h0m"])
def test_anything_else_is_not_a_duration(text):
    with pytest.raises(ValueError, match="90m, 2h or 1h30m"):
        parse_duration(text)


def test_a_bad_duration_is_a_usage_error_naming_the_option_and_the_forms(capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main(["activate", "user-administrator", "--for", "90"])

    assert exit_.value.code == 2
    assert "argument --for: '90' is not a duration; use minutes or hours such as 90m, 2h or 1h30m" in (
        capsys.readouterr().err
    )


@pytest.mark.parametrize(
    ("text", "ticket"), [("ServiceNow:INC0012345", ("ServiceNow", "INC0012345")), ("Jira:OPS:12", ("Jira", "OPS:12"))]
)
def test_a_ticket_is_system_colon_number(text, ticket):
    assert parse_ticket(text) == ticket


@pytest.mark.parametrize("text", ["INC0012345", ":12", "Jira:", " : "])
def test_a_ticket_without_system_or_number_is_refused(text, capsys):
    with pytest.raises(ValueError, match="SYSTEM:NUMBER"):
        parse_ticket(text)
    with pytest.raises(SystemExit) as exit_:
        cli.main(["activate", "user-administrator", "--for", "1h", "--ticket", text])
    assert exit_.value.code == 2
    assert "argument --ticket:" in capsys.readouterr().err


def test_deny_without_a_reason_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main(["deny", "12"])
    assert exit_.value.code == 2
    assert "--reason" in capsys.readouterr().err


def test_countdowns_round_down_to_the_minute():
    now = datetime(2026, 11, 23, 17, 18, tzinfo=UTC)
    assert time_left(now + timedelta(hours=1, minutes=12, seconds=59), now) == "1 h 12 min left"
    assert time_left(now + timedelta(seconds=59), now) == "less than a minute left"
    assert time_left(now, now) == "ended"
    assert [show_minutes(m) for m in (45, 60, 90, 480, 3000)] == ["45 min", "1 h", "1 h 30 min", "8 h", "2 d 2 h"]


def test_field_errors_are_shown_under_the_option_and_the_role_they_are_about():
    error = ApiError(400, "Bad Request", {"errors": {
        "1.duration_minutes": ["Exchange Administrator can be activated for 30 min to 8 h; you asked for 9 h."],
        "non_field_errors": ["Send at least one role."],
    }}, {})  # fmt: skip

    lines = cli.describe_api_error(error, cli.ACTIVATE_FIELDS, items=["user-administrator", "exchange-administrator"])

    assert lines == [
        "exchange-administrator: --for: Exchange Administrator can be activated for 30 min to 8 h; you asked for 9 h.",
        "Send at least one role.",
    ]


# Configuration ---------------------------------------------------------------------------------


def write_config(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(0o600)
    return path


def test_the_config_file_gives_url_and_token(tmp_path):
    write_config(tmp_path / "pim" / "config.toml", 'url = "https://pim.example.com/"\ntoken = "pim_file"\n')

    config = load_config({"XDG_CONFIG_HOME": str(tmp_path)})

    assert (config.url, config.token, config.warnings) == ("https://pim.example.com", "pim_file", ())


def test_the_environment_wins_over_the_file_key_by_key(tmp_path):
    path = write_config(tmp_path / "elsewhere.toml", 'url = "https://pim.example.com"\ntoken = "pim_file"\n')

    config = load_config({"PIM_CONFIG": str(path), "PIM_TOKEN": "pim_env"})

    assert (config.url, config.token) == ("https://pim.example.com", "pim_env")
    config = load_config({"PIM_CONFIG": str(path), "PIM_URL": "https://other.example.com/api/v1/"})
    assert (config.url, config.token) == ("https://other.example.com", "pim_file")


def test_the_default_file_is_under_home_dot_config(tmp_path):
    write_config(tmp_path / ".config" / "pim" / "config.toml", 'url = "https://pim.example.com"\ntoken = "t"\n')

    assert load_config({"HOME": str(tmp_path)}).token == "t"


@pytest.mark.parametrize(
    ("environ", "file", "message"),
    [
        ({}, None, "No server to call: set PIM_URL"),
        ({"PIM_URL": "https://pim.example.com"}, None, "No API token: create one on "
                                                       "https://pim.example.com/account/tokens/ and set PIM_TOKEN"),
        ({"PIM_URL": "pim.example.com", "PIM_TOKEN": "t"}, None, "must start with http:// or https://"),
        ({}, 'url = "https://pim.example.com"\ntokn = "t"\n', "unknown key(s) tokn; the file takes url and token"),
        ({}, "url = https://pim.example.com\n", "Cannot read"),
        ({}, "url = 8000\n", "url must be a quoted string"),
    ],
)  # fmt: skip
def test_missing_or_unreadable_configuration_says_what_to_set(tmp_path, environ, file, message):
    if file is not None:
        write_config(tmp_path / "pim" / "config.toml", file)

    with pytest.raises(ConfigError) as error:
        load_config({"XDG_CONFIG_HOME": str(tmp_path), **environ})

    assert message in str(error.value)


def test_a_config_file_named_in_pim_config_must_exist(tmp_path):
    with pytest.raises(ConfigError, match="PIM_CONFIG names .*missing.toml, which is not a file"):
        load_config({"PIM_CONFIG": str(tmp_path / "missing.toml"), "PIM_URL": "https://x.example", "PIM_TOKEN": "t"})


def test_a_token_others_can_read_or_send_in_clear_is_warned_about(tmp_path):
    path = write_config(tmp_path / "pim" / "config.toml", 'url = "http://pim.example.com"\ntoken = "t"\n')
    path.chmod(0o644)

    warnings = load_config({"XDG_CONFIG_HOME": str(tmp_path)}).warnings

    assert warnings == (
        f"{path} holds your token and others may read it; run: chmod 600 {path}",
        "http://pim.example.com is plain HTTP: the token crosses the network unencrypted; use https://.",
    )


def test_the_client_imports_only_the_standard_library():
    # It runs on laptops and in scripts without Django; `pim` must start without the server's code.
    imported = set()
    for source in Path(cli.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(source.read_text())):
            if isinstance(node, ast.Import):
                imported |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                imported.add(node.module.split(".")[0])
    assert imported - sys.stdlib_module_names == {"pimcli"}


# The console script against a live server ------------------------------------------------------


@pytest.fixture(autouse=True)
def fresh_throttles():
    """DRF counts calls in Django's cache, which the live server shares with this process."""
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def run_pim(live_server, tmp_path):
    """run_pim(user, *args): the installed `pim` as `user`, with a new token of theirs."""
    assert PIM.exists(), f"{PIM} is missing: install the project (make install-test)"

    def run(user, *args: str, permissions=("api",), token: str | None = None) -> subprocess.CompletedProcess:
        if token is None:
            _, token = create_api_token(actor=user, name=f"cli {len(user.api_tokens.all())}",
                                        permissions=list(permissions))  # fmt: skip
        environ = {name: value for name, value in os.environ.items() if not name.startswith("PIM_")}
        environ |= {"PIM_URL": live_server.url, "PIM_TOKEN": token, "XDG_CONFIG_HOME": str(tmp_path)}
        # A new session: no controlling terminal, so nothing can wait on /dev/tty.
        return subprocess.run([str(PIM), *args], env=environ, capture_output=True, text=True, timeout=60,
                              start_new_session=True, check=False)  # fmt: skip

    return run


def role(slug: str, **changes) -> Role:
    found = Role.objects.get(slug=slug)
    stages = changes.pop("stages", None)
    update_role_settings(actor=None, role=found, changes=changes, stages=stages)
    return found


def holds(user, slug: str) -> bool:
    return ActiveAssignment.objects.in_effect(datetime.now(UTC)).filter(principal=user, role__slug=slug).exists()


@live
def test_alice_activates_a_role_sees_it_counting_down_and_deactivates_it(run_pim, alice):
    EligibleAssignmentFactory(principal=alice, role=role("user-administrator", require_mfa_on_activation=False))

    activated = run_pim(alice, "activate", "user-administrator", "--for", "1h30m", "--reason", REASON)

    assert activated.returncode == 0, activated.stderr
    assert re.fullmatch(r"User Administrator at /: active until \d{4}-\d\d-\d\d \d\d:\d\d UTC\n", activated.stdout)
    assert holds(alice, "user-administrator")

    listed = run_pim(alice, "roles")

    assert listed.returncode == 0, listed.stderr
    eligible, active = listed.stdout.split("Active:\n")
    assert re.search(r"user-administrator\s+User Administrator\s+/\s+up to 8 h\s+needs justification$", eligible,
                     re.MULTILINE)  # fmt: skip
    assert re.search(r"user-administrator\s+User Administrator\s+/\s+until .* UTC\s+1 h (29|30) min left$", active,
                     re.MULTILINE)  # fmt: skip

    deactivated = run_pim(alice, "deactivate", "user-administrator")

    assert (deactivated.returncode, deactivated.stdout) == (0, "User Administrator at /: deactivated\n")
    assert not holds(alice, "user-administrator")
    assert run_pim(alice, "roles").stdout.endswith("Active:\n  none\n")


@live
def test_a_role_that_requires_mfa_is_activated_with_the_code_from_otp(run_pim, alice):
    EligibleAssignmentFactory(principal=alice, role=role("user-administrator"))  # default settings: MFA

    without_code = run_pim(alice, "activate", "user-administrator", "--for", "1h", "--reason", REASON)

    assert without_code.returncode == 1
    needs_code = "pim activate: --otp: Multifactor authentication is required to activate User Administrator"
    assert needs_code in without_code.stderr
    assert not holds(alice, "user-administrator")

    code = current_code(alice.totpdevice_set.get())
    with_code = run_pim(alice, "activate", "user-administrator", "--for", "1h", "--reason", REASON, "--otp", code)

    assert with_code.returncode == 0, with_code.stderr
    assert with_code.stdout.startswith("User Administrator at /: active until ")


@live
def test_prompt_reads_the_code_without_echoing_it(live_server, alice, monkeypatch, capsys, tmp_path):
    EligibleAssignmentFactory(principal=alice, role=role("user-administrator"))
    _, token = create_api_token(actor=alice, name="laptop", permissions=["api"])
    monkeypatch.delenv("PIM_CONFIG", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))  # not the config of whoever runs the tests
    monkeypatch.setenv("PIM_URL", live_server.url)
    monkeypatch.setenv("PIM_TOKEN", token)
    asked = []
    monkeypatch.setattr(
        "getpass.getpass", lambda prompt: asked.append(prompt) or current_code(alice.totpdevice_set.get())
    )

    exit_code = cli.main(["activate", "user-administrator", "--for", "1h", "--reason", REASON, "--prompt"])

    assert (exit_code, asked) == (0, ["Verification code: "])
    assert "User Administrator at /: active until" in capsys.readouterr().out


@live
def test_bob_approves_with_pim_approve_and_alice_gets_the_role(run_pim, alice, bob):
    exchange = role("exchange-administrator", require_mfa_on_activation=False, require_approval=True,
                    stages=[StagePlan(approvers=(bob,))])  # fmt: skip
    EligibleAssignmentFactory(principal=alice, role=exchange)

    asked = run_pim(alice, "activate", "exchange-administrator", "--for", "2h", "--reason", REASON)

    assert asked.returncode == 0, asked.stderr
    request = ActivationRequest.objects.get(requester=alice)
    assert asked.stdout == f"Exchange Administrator at /: waiting for approval (request #{request.pk})\n"
    assert not holds(alice, "exchange-administrator")
    inbox = run_pim(bob, "approvals")
    assert re.match(rf"#{request.pk}\s+alice\s+exchange-administrator\s+/\s+2 h\s+decide by .* UTC\s+{REASON}$",
                    inbox.stdout)  # fmt: skip

    approved = run_pim(bob, "approve", str(request.pk), "--reason", "looks right")

    assert approved.returncode == 0, approved.stderr
    assert approved.stdout.startswith(f"Approved request #{request.pk}, alice's exchange-administrator at /: "
                                      "active until ")  # fmt: skip
    assert holds(alice, "exchange-administrator")
    assert re.match(rf"#{request.pk}\s+granted\s+exchange-administrator\s+/\s+for 2 h\s+asked ",
                    run_pim(alice, "requests").stdout)  # fmt: skip

    again = run_pim(bob, "approve", str(request.pk))

    assert (again.returncode, again.stderr) == (
        1, f"pim approve: request #{request.pk}: This request was already decided: it is granted.\n")  # fmt: skip


@live
def test_bob_denies_with_a_reason_and_alice_sees_it_in_her_denied_requests(run_pim, alice, bob):
    exchange = role("exchange-administrator", require_mfa_on_activation=False, require_approval=True,
                    stages=[StagePlan(approvers=(bob,))])  # fmt: skip
    EligibleAssignmentFactory(principal=alice, role=exchange)
    request_id = json.loads(run_pim(alice, "--json", "activate", "exchange-administrator", "--for", "1h",
                                    "--reason", REASON).stdout)[0]["id"]  # fmt: skip

    denied = run_pim(bob, "deny", str(request_id), "--reason", "not during the freeze")

    assert (denied.returncode, denied.stdout) == (0, f"Denied request #{request_id}, alice's exchange-administrator "
                                                     "at /: denied\n")  # fmt: skip
    mine = run_pim(alice, "requests", "--status", "denied", "--json")
    assert [(r["id"], r["status"]) for r in json.loads(mine.stdout)["results"]] == [(request_id, "denied")]
    assert run_pim(alice, "requests", "--status", "pending_approval").stdout == (
        "No requests with status pending_approval.\n"
    )


@live
def test_a_refused_activation_exits_1_with_the_rule_under_its_option(run_pim, alice):
    EligibleAssignmentFactory(principal=alice, role=role("user-administrator", require_mfa_on_activation=False))

    refused = run_pim(alice, "activate", "user-administrator", "--for", "9h", "--reason", REASON)

    assert (refused.returncode, refused.stdout) == (1, "")
    assert re.fullmatch(r"pim activate: user-administrator: --for: User Administrator can be activated for .+ to .+; "
                        r"you asked for .+\.\n", refused.stderr)  # fmt: skip
    assert not ActivationRequest.objects.exists()


@live
def test_several_roles_are_activated_all_or_none(run_pim, alice):
    EligibleAssignmentFactory(principal=alice, role=role("user-administrator", require_mfa_on_activation=False))

    refused = run_pim(alice, "--json", "activate", "user-administrator", "security-reader", "--for", "1h",
                      "--reason", REASON)  # fmt: skip

    assert refused.returncode == 1
    assert list(json.loads(refused.stdout)["errors"]) == ["1.role"]  # the API's answer, as is
    assert "pim activate: security-reader: ROLE: You are not eligible for security-reader at / now" in refused.stderr
    assert not holds(alice, "user-administrator")


@live
def test_json_output_is_the_apis_document(run_pim, alice):
    EligibleAssignmentFactory(principal=alice, role=role("user-administrator", require_mfa_on_activation=False))

    activated = run_pim(alice, "activate", "user-administrator", "--for", "30m", "--reason", REASON, "--json")
    me = run_pim(alice, "--json", "roles")

    [request] = json.loads(activated.stdout)
    assert (request["role"], request["status"], request["duration_minutes"]) == (
        "user-administrator",
        "provisioned",
        30,
    )
    assert [a["id"] for a in json.loads(me.stdout)["active_assignments"]] == [request["assignment"]]


@live
def test_check_exits_0_when_allowed_and_1_when_not(run_pim, alice, dave):
    gateway = create_api_token(actor=dave, name="gateway", permissions=["check"])[1]

    denied = run_pim(dave, "check", "alice", "user-administrator", token=gateway)

    assert (denied.returncode, denied.stdout) == (
        1, "not allowed: alice holds no active user-administrator assignment at / or above\n")  # fmt: skip
    ActiveAssignmentFactory(principal=alice, role=Role.objects.get(slug="user-administrator"),
                            end_at=datetime.now(UTC) + timedelta(hours=2))  # fmt: skip

    allowed = run_pim(dave, "check", "alice", "user-administrator", "--scope", "/subscriptions/prod", token=gateway)

    assert allowed.returncode == 0, allowed.stderr
    assert re.fullmatch(r"allowed: alice holds user-administrator at /subscriptions/prod until .* UTC "
                        r"\(1 h 59 min left\)\n", allowed.stdout)  # fmt: skip
    as_json = run_pim(dave, "--json", "check", "alice", "user-administrator", token=gateway)
    assert (as_json.returncode, json.loads(as_json.stdout)["allowed"]) == (0, True)


@live
def test_check_with_a_token_not_made_for_it_says_which_permission_it_needs(run_pim, alice):
    refused = run_pim(alice, "check", "alice", "user-administrator")

    assert refused.returncode == 1
    assert "needs a token made with the 'check' permission" in refused.stderr


@live
def test_deactivating_a_role_not_held_is_refused(run_pim, alice):
    refused = run_pim(alice, "deactivate", "user-administrator")

    assert (refused.returncode, refused.stderr) == (
        1, "pim deactivate: you hold no active user-administrator; `pim roles` lists what you hold\n")  # fmt: skip


@live
def test_a_role_an_administrator_assigned_is_not_deactivated_from_the_command_line(run_pim, alice):
    ActiveAssignmentFactory(principal=alice, role=Role.objects.get(slug="user-administrator"),
                            end_at=datetime.now(UTC) + timedelta(days=30))  # fmt: skip

    refused = run_pim(alice, "deactivate", "user-administrator")

    assert (refused.returncode, refused.stderr) == (1, "pim deactivate: you hold user-administrator from an "
                                                       "administrator, not by activating it; an administrator can "
                                                       "end it\n")  # fmt: skip
    assert holds(alice, "user-administrator")


@live
def test_a_role_held_at_two_scopes_is_deactivated_at_the_one_named(run_pim, alice):
    user_admin = Role.objects.get(slug="user-administrator")
    end = datetime.now(UTC) + timedelta(hours=1)
    for path in ("/subscriptions/prod", "/subscriptions/test"):
        ActiveAssignmentFactory(principal=alice, role=user_admin, scope=ScopeFactory(path=path),
                                source=ActiveSource.ACTIVATION, end_at=end)  # fmt: skip

    ambiguous = run_pim(alice, "deactivate", "user-administrator")
    named = run_pim(alice, "deactivate", "user-administrator", "--scope", "/subscriptions/test")

    assert (ambiguous.returncode, ambiguous.stderr) == (2, "pim deactivate: you hold user-administrator at "
                                                           "/subscriptions/prod, /subscriptions/test: say which with "
                                                           "--scope PATH\n")  # fmt: skip
    assert (named.returncode, named.stdout) == (0, "User Administrator at /subscriptions/test: deactivated\n")
    assert list(ActiveAssignment.objects.in_effect(datetime.now(UTC)).values_list("scope__path", flat=True)) == [
        "/subscriptions/prod"
    ]


@live
def test_an_unknown_token_exits_1_and_says_so(run_pim, alice):
    refused = run_pim(alice, "roles", token="pim_not-a-token")

    assert refused.returncode == 1
    assert refused.stderr.startswith("pim roles: The token is not valid: unknown, expired or revoked.")


def test_a_server_that_does_not_answer_exits_1_naming_it(tmp_path):
    with socket.socket() as probe:  # a port nothing listens on once closed
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    environ = {name: value for name, value in os.environ.items() if not name.startswith("PIM_")}
    environ |= {"PIM_URL": f"http://127.0.0.1:{port}", "PIM_TOKEN": "pim_x", "XDG_CONFIG_HOME": str(tmp_path)}

    result = subprocess.run([str(PIM), "roles"], env=environ, capture_output=True, text=True, timeout=60, check=False)

    assert result.returncode == 1
    assert result.stderr.startswith(f"pim roles: cannot reach http://127.0.0.1:{port}: ")


def test_no_configuration_is_a_usage_error(tmp_path):
    environ = {name: value for name, value in os.environ.items() if not name.startswith("PIM_")}

    result = subprocess.run([str(PIM), "roles"], env=environ | {"XDG_CONFIG_HOME": str(tmp_path)},
                            capture_output=True, text=True, timeout=60, check=False)  # fmt: skip

    assert result.returncode == 2
    assert "No server to call: set PIM_URL" in result.stderr
