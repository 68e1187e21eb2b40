"""The `pim` console script: PIM's workflow from a terminal or a script.

Exit codes: 0 done (or, for `check`, allowed); 1 refused, denied, not allowed, or the API or
network failed; 2 usage (a bad option, or no server or token configured). With --json every
command prints the API's answer as one JSON document on stdout, errors included; the
human-readable lines go to stdout, and problems to stderr."""

import argparse
import getpass
import json
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from pimcli.client import ApiError, Client, NetworkError
from pimcli.config import ConfigError, load_config
from pimcli.formatting import (
    DURATION_FORMS,
    TICKET_FORM,
    parse_duration,
    parse_ticket,
    parse_time,
    show_minutes,
    show_time,
    table,
    time_left,
)

OK, REFUSED, USAGE = 0, 1, 2

STATUSES = ("pending_approval", "approved", "denied", "canceled", "timed_out", "provisioned", "failed")
STATUS_WORDS = {"pending_approval": "waiting for approval", "provisioned": "granted", "timed_out": "timed out"}
# The API's field names as the options that set them, so an error points at what to retype.
ACTIVATE_FIELDS = {"role": "ROLE", "scope": "--scope", "duration_minutes": "--for", "justification": "--reason",
                   "ticket_system": "--ticket", "ticket_number": "--ticket", "otp": "--otp"}  # fmt: skip
DECISION_FIELDS = {"justification": "--reason"}
CHECK_FIELDS = {"user": "USER", "role": "ROLE", "scope": "--scope"}


class Refused(Exception):
    """The command cannot do what was asked, for a reason the user can read: exit 1. `payload`
    is the API's answer that said no, if one did (--json prints it)."""

    def __init__(self, message: str, *, payload: Any = None):
        super().__init__(message)
        self.payload = payload


class UsageError(Exception):
    """The command line does not say what to do: exit 2."""


# Arguments -------------------------------------------------------------------------------------


def _duration(text: str) -> int:
    try:
        return parse_duration(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _limit(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 200:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number from 1 to 200")
    return int(text)


def _ticket(text: str) -> tuple[str, str]:
    try:
        return parse_ticket(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pim",
        description="Activate and manage privileged roles through PIM's API. Set PIM_URL and PIM_TOKEN, or url "
        "and token in ~/.config/pim/config.toml (PIM_CONFIG names another file).",
        epilog="Exit codes: 0 done or allowed; 1 refused, denied, not allowed, or an API or network error; 2 usage.",
    )
    parser.add_argument("--json", action="store_true", help="print the API's answer as JSON, for scripts")
    # --json after the command too ("pim roles --json"); SUPPRESS keeps the one given first.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, handler: Callable, help: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, parents=[common], help=help, description=help)
        sub.set_defaults(handler=handler)
        return sub

    command("roles", roles, "list the roles you are eligible for and those you hold, with the time left")

    activate_parser = command("activate", activate, "activate one or more roles (all or none) for a while")
    activate_parser.add_argument("roles", nargs="+", metavar="ROLE", help="role slug, as `pim roles` lists it")
    activate_parser.add_argument("--for", dest="duration", type=_duration, required=True, metavar="DURATION",
                                 help=f"how long: {DURATION_FORMS}")  # fmt: skip
    activate_parser.add_argument("--reason", default="", help="the justification, e.g. an incident and what for")
    activate_parser.add_argument("--ticket", type=_ticket, metavar="SYSTEM:NUMBER", help=f"a ticket: {TICKET_FORM}")
    activate_parser.add_argument("--scope", default="/", metavar="PATH", help="the scope path (default /)")
    code = activate_parser.add_mutually_exclusive_group()
    code.add_argument("--otp", metavar="CODE", help="the code your authenticator app shows now")
    code.add_argument("--prompt", action="store_true", help="ask for the code without echoing it")

    deactivate_parser = command("deactivate", deactivate, "end a role you activated, now")
    deactivate_parser.add_argument("role", metavar="ROLE", help="role slug")
    deactivate_parser.add_argument("--scope", metavar="PATH", help="which one, if you hold the role at several scopes")

    requests_parser = command("requests", requests, "your activation requests, newest first")
    requests_parser.add_argument("--status", choices=STATUSES, help="only requests in this state")
    requests_parser.add_argument("--limit", type=_limit, default=20, metavar="N",
                                 help="how many (1 to 200; default 20)")  # fmt: skip

    command("approvals", approvals, "requests waiting for your decision, oldest deadline first")

    approve_parser = command("approve", approve, "approve a request waiting for you")
    approve_parser.add_argument("request_id", type=int, metavar="ID", help="the request's number")
    approve_parser.add_argument("--reason", default="", help="why (optional)")

    deny_parser = command("deny", deny, "deny a request waiting for you")
    deny_parser.add_argument("request_id", type=int, metavar="ID", help="the request's number")
    deny_parser.add_argument("--reason", required=True, help="why; the requester reads it")

    check_parser = command("check", check, "may USER act with ROLE now? exit 0 if so, 1 if not")
    check_parser.add_argument("user", metavar="USER", help="a username")
    check_parser.add_argument("role", metavar="ROLE", help="role slug")
    check_parser.add_argument("--scope", default="/", metavar="PATH", help="the scope path (default /)")
    return parser


# Commands: each takes (client, args, out) and returns an exit code --------------------------------


def roles(client: Client, args, out) -> int:
    me = client.get("me/")
    if out.json(me):
        return OK
    now = datetime.now(UTC)
    eligible = [[e["role"], e["role_name"], e["scope"], f"up to {show_minutes(e['max_duration_minutes'])}",
                 _requirements(e["requires"]) + _via(e) + _eligible_until(e)]
                for e in me["eligible_assignments"]]  # fmt: skip
    active = [[a["role"], a["role_name"], a["scope"], f"until {show_time(parse_time(a['end_at']))}",
               _left(a, now) + _via(a)] for a in me["active_assignments"]]  # fmt: skip
    out.line("Eligible:")
    out.lines(table(eligible) or ["  none"])
    out.line("Active:")
    out.lines(table(active) or ["  none"])
    return OK


def activate(client: Client, args, out) -> int:
    otp = args.otp or ""
    if args.prompt:
        otp = getpass.getpass("Verification code: ").strip()
        if not otp:
            raise UsageError("no code entered for --prompt")
    system, number = args.ticket or ("", "")
    # Always a list, even of one: the API activates all of them or none, and --json always
    # prints a list.
    items = [{"role": role, "scope": args.scope, "duration_minutes": args.duration, "justification": args.reason,
              "ticket_system": system, "ticket_number": number, "otp": otp} for role in args.roles]  # fmt: skip
    try:
        created = client.post("activation-requests/", items)
    except ApiError as error:
        raise _api_refusal(error, ACTIVATE_FIELDS, items=args.roles) from None
    if out.json(created):
        return OK
    names = _role_names(client)
    now = datetime.now(UTC)
    for request in created:
        out.line(f"{names.get(request['role'], request['role'])} at {request['scope']}: {_outcome(request, now)}")
    return OK


def deactivate(client: Client, args, out) -> int:
    held = [a for a in client.get_all("me/active-assignments/") if a["role"] == args.role]
    if args.scope:
        held = [a for a in held if a["scope"] == args.scope]
    # Only what you activated can be deactivated (roles.services.deactivate_assignment); an
    # administrator's assignment, to you or to your group, is theirs to remove.
    own = [a for a in held if a["source"] == "activation"]
    where = f" at {args.scope}" if args.scope else ""
    if not own:
        if held:
            how = f"through the group {held[0]['via_group']}" if held[0]["via_group"] else "from an administrator"
            raise Refused(f"you hold {args.role}{where} {how}, not by activating it; an administrator can end it")
        raise Refused(f"you hold no active {args.role}{where}; `pim roles` lists what you hold")
    if len(own) > 1:
        scopes = ", ".join(sorted(a["scope"] for a in own))
        raise UsageError(f"you hold {args.role} at {scopes}: say which with --scope PATH")
    try:
        ended = client.post(f"active-assignments/{own[0]['id']}/deactivate/")
    except ApiError as error:
        raise _api_refusal(error, {}) from None
    if not out.json(ended):
        out.line(f"{ended['role_name']} at {ended['scope']}: deactivated")
    return OK


def requests(client: Client, args, out) -> int:
    page = client.get("activation-requests/", {"status": args.status, "page_size": str(args.limit)})
    if out.json(page):
        return OK
    rows = [[f"#{r['id']}", _status(r), r["role"], r["scope"], _span(r),
             f"asked {show_time(parse_time(r['created_at']))}"] for r in page["results"]]  # fmt: skip
    out.lines(table(rows, indent="") or ["No requests" + (f" with status {args.status}." if args.status else ".")])
    return OK


def approvals(client: Client, args, out) -> int:
    waiting = client.get("approvals/")
    if out.json(waiting):
        return OK
    rows = [[f"#{r['id']}", r["requester"], r["role"], r["scope"], show_minutes(r["duration_minutes"] or 0),
             f"decide by {show_time(parse_time(r['decide_by']))}" if r["decide_by"] else "", r["justification"]]
            for r in waiting]  # fmt: skip
    out.lines(table(rows, indent="") or ["Nothing waits for your decision."])
    return OK


def approve(client: Client, args, out) -> int:
    return _decide(client, args, out, "approve")


def deny(client: Client, args, out) -> int:
    return _decide(client, args, out, "deny")


def _decide(client: Client, args, out, decision: str) -> int:
    try:
        decided = client.post(f"activation-requests/{args.request_id}/{decision}/", {"justification": args.reason})
    except ApiError as error:
        refusal = _api_refusal(error, DECISION_FIELDS)
        raise Refused(f"request #{args.request_id}: {refusal}", payload=refusal.payload) from None
    if out.json(decided):
        return OK
    verb = "Approved" if decision == "approve" else "Denied"
    what = f"{decided['requester']}'s {decided['role']} at {decided['scope']}"
    out.line(f"{verb} request #{decided['id']}, {what}: {_outcome(decided, datetime.now(UTC))}")
    return OK


def check(client: Client, args, out) -> int:
    try:
        decision = client.get("check/", {"user": args.user, "role": args.role, "scope": args.scope})
    except ApiError as error:
        if error.status == 403:
            hint = "`pim check` needs a token made with the 'check' permission"
            raise Refused(f"{_detail(error)} ({hint})", payload=error.payload) from None
        raise _api_refusal(error, CHECK_FIELDS) from None
    if not out.json(decision):
        if decision["allowed"]:
            until = parse_time(decision["until"])
            when = f"until {show_time(until)} ({time_left(until, datetime.now(UTC))})" if until else "permanently"
            out.line(f"allowed: {args.user} holds {args.role} at {args.scope} {when}")
        else:
            out.line(f"not allowed: {decision['reason']}")
    return OK if decision["allowed"] else REFUSED


# Wording ---------------------------------------------------------------------------------------


def _requirements(requires: dict) -> str:
    words = {"mfa": "MFA", "justification": "justification", "ticket": "ticket", "approval": "approval"}
    needed = [word for key, word in words.items() if requires.get(key)]
    return "needs " + ", ".join(needed) if needed else "needs nothing more"


def _via(assignment: dict) -> str:
    return f"; via group {assignment['via_group']}" if assignment.get("via_group") else ""


def _eligible_until(eligibility: dict) -> str:
    return f"; eligible until {show_time(parse_time(eligibility['end_at']))}" if eligibility.get("end_at") else ""


def _left(assignment: dict, now: datetime) -> str:
    start = parse_time(assignment["start_at"])
    if start and start > now:
        return f"starts {show_time(start)}"
    return time_left(parse_time(assignment["end_at"]), now) if assignment["end_at"] else "permanent"


def _status(request: dict) -> str:
    return STATUS_WORDS.get(request["status"], request["status"].replace("_", " "))


def _span(request: dict) -> str:
    if request["duration_minutes"]:
        return f"for {show_minutes(request['duration_minutes'])}"
    return f"until {show_time(parse_time(request['end_at']))}" if request["end_at"] else ""


def _outcome(request: dict, now: datetime) -> str:
    """What a request's state means for the person holding the role."""
    status = request["status"]
    end = parse_time(request["end_at"])
    if status in ("approved", "provisioned") and request["assignment"]:
        start = parse_time(request["start_at"])
        if start and start > now:
            return f"scheduled from {show_time(start)} until {show_time(end)}"
        return f"active until {show_time(end)}" if end else "active, permanently"
    if status == "pending_approval":
        return f"waiting for approval (request #{request['id']})"
    reason = f" ({request['status_reason']})" if request.get("status_reason") else ""
    return _status(request) + reason


def _role_names(client: Client) -> dict[str, str]:
    """Role slug -> name, for messages. The activation answer names roles by slug only."""
    try:
        me = client.get("me/")
    except (ApiError, NetworkError):
        return {}  # the activation is done; slugs will do
    return {a["role"]: a["role_name"] for a in me["eligible_assignments"] + me["active_assignments"]}


def _detail(error: ApiError) -> str:
    payload = error.payload if isinstance(error.payload, dict) else {}
    return str(payload.get("detail") or f"{error.status} {error.reason}")


def _api_refusal(error: ApiError, fields: dict[str, str], *, items: Sequence[str] = ()) -> "Refused":
    """The API's answer as lines a person can act on: each field error under the option that
    sets it (and the role it is about, for a list), or the detail."""
    return Refused("\n".join(describe_api_error(error, fields, items=items)), payload=error.payload)


def describe_api_error(error: ApiError, fields: dict[str, str], *, items: Sequence[str] = ()) -> list[str]:
    payload = error.payload if isinstance(error.payload, dict) else {}
    if 300 <= error.status < 400:
        return [f"the server redirected to {error.headers.get('Location', '?')}; set PIM_URL to that address"]
    if isinstance(payload.get("errors"), dict):
        lines = []
        for key, messages in payload["errors"].items():
            index, _, field = key.rpartition(".")
            label = fields.get(field, field) if field != "non_field_errors" else ""
            if index.isdigit() and int(index) < len(items):
                label = f"{items[int(index)]}: {label}" if label else items[int(index)]
            lines += [f"{label}: {message}" if label else message for message in messages]
        return lines
    detail = _detail(error)
    if error.status == 429 and "Retry-After" in error.headers and "second" not in detail:
        detail += f" Retry in {error.headers['Retry-After']} seconds."
    return [detail]


# Running ---------------------------------------------------------------------------------------


class Output:
    """stdout in the chosen form: `json(doc)` prints the document and says True in --json mode,
    so each command writes `if out.json(answer): return`."""

    def __init__(self, *, as_json: bool, stream=None):
        self.as_json = as_json
        self.stream = stream or sys.stdout

    def json(self, document: Any) -> bool:
        if self.as_json:
            json.dump(document, self.stream, indent=2, ensure_ascii=False)
            self.stream.write("\n")
        return self.as_json

    def line(self, text: str) -> None:
        print(text, file=self.stream)

    def lines(self, texts: list[str]) -> None:
        for text in texts:
            self.line(text)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)  # exits 2 on a bad command line
    out = Output(as_json=args.json)
    try:
        config = load_config()
        for warning in config.warnings:
            print(f"pim: warning: {warning}", file=sys.stderr)
        return args.handler(Client(url=config.url, token=config.token), args, out)
    except (ConfigError, UsageError) as error:
        print(f"pim {args.command}: {error}", file=sys.stderr)
        return USAGE
    except ApiError as error:  # a read that failed: no options to point at
        refusal = _api_refusal(error, {})
    except Refused as refused:
        refusal = refused
    except NetworkError as error:
        print(f"pim {args.command}: {error}", file=sys.stderr)
        return REFUSED
    except KeyboardInterrupt:
        print(file=sys.stderr)
        return 130
    if refusal.payload is not None:
        out.json(refusal.payload)
    for line in str(refusal).splitlines():
        print(f"pim {args.command}: {line}", file=sys.stderr)
    return REFUSED


if __name__ == "__main__":
    sys.exit(main())
