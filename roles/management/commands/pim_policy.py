"""Policy as code: `export` the roles, role settings, scopes and eligible assignments as YAML;
`plan FILE` shows what a file would change; `apply FILE --actor USERNAME` makes exactly those
changes. The file format and what it manages: roles.policy and the README."""

from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from roles import policy

# Exit status: 0 done (or nothing to do), 1 refused (nothing changed), 2 usage (argparse's own).
REFUSED = 1
CANNOT_READ = "Cannot read %(file)s: %(error)s."
NO_ACTOR = "No account has the username '%(value)s'; name an existing PIM administrator with --actor."


class Command(BaseCommand):
    help = (
        "Roles, role settings, scopes and eligible assignments as a YAML policy file: export them, plan "
        "what a file would change, or apply it in one transaction as an active PIM administrator. "
        "Exits 0 when done or nothing changes, 1 when the file is refused (nothing changed), 2 on a usage error."
    )

    def add_arguments(self, parser):
        actions = parser.add_subparsers(dest="action", required=True, metavar="{export,plan,apply}")
        actions.add_parser("export", help="Write the current policy to standard output as YAML.")
        plan = actions.add_parser("plan", help="Show what FILE would change; change nothing.")
        plan.add_argument("file", help="a policy file, e.g. policy.yaml")
        plan.add_argument("--prune", action="store_true", help="also delete custom roles the file leaves out")
        apply = actions.add_parser("apply", help="Make the changes plan shows, all or none.")
        apply.add_argument("file", help="a policy file, e.g. policy.yaml")
        apply.add_argument(
            "--actor",
            required=True,
            help="username of the PIM administrator the changes are attributed to; they must hold an active "
            "Privileged Role Administrator or Global Administrator assignment at / now",
        )
        apply.add_argument("--prune", action="store_true", help="also delete custom roles the file leaves out")

    def handle(self, *args, action: str, **options):
        if action == "export":
            self.stdout.write(policy.dump_policy(policy.export_policy(now=timezone.now())), ending="")
            return
        try:
            if action == "plan":
                self._plan(options["file"], prune=options["prune"], verbosity=options["verbosity"])
            else:
                self._apply(options["file"], options["actor"], prune=options["prune"], verbosity=options["verbosity"])
        except policy.PolicyRefused as refusal:
            for problem in refusal.problems:
                self.stderr.write(problem.render(refusal.source))
            count = len(refusal.problems)
            raise CommandError(
                f"{refusal.source} refused ({count} problem{'s' if count != 1 else ''}); nothing was changed.",
                returncode=REFUSED,
            ) from None
        except ValidationError as refusal:  # the actor may not apply policy
            raise CommandError(" ".join(refusal.messages), returncode=REFUSED) from None

    def _read(self, file: str) -> policy.PolicyFile:
        try:
            data = Path(file).read_bytes()
        except OSError as error:
            raise CommandError(
                CANNOT_READ % {"file": file, "error": error.strerror or error}, returncode=REFUSED
            ) from None
        return policy.read_policy(source=file, data=data)

    def _plan(self, file: str, *, prune: bool, verbosity: int) -> None:
        plan = policy.plan_policy(self._read(file), now=timezone.now(), prune=prune)
        self._show(plan, verbosity)
        if plan.changes:
            self.stdout.write(f"Plan: {plan.summary()}. Nothing was changed: apply makes these changes.")

    def _apply(self, file: str, username: str, *, prune: bool, verbosity: int) -> None:
        policy_file = self._read(file)
        User = get_user_model()
        actor = User.objects.filter(**{User.USERNAME_FIELD: username}).first()
        if actor is None:
            raise CommandError(NO_ACTOR % {"value": username}, returncode=REFUSED)
        plan = policy.apply_policy(actor=actor, policy=policy_file, prune=prune)
        self._show(plan, verbosity)
        if plan.changes:
            self.stdout.write(self.style.SUCCESS(f"Applied as {actor.get_username()}: {plan.summary(done=True)}."))

    def _show(self, plan: policy.Plan, verbosity: int) -> None:
        """Each change and note at verbosity 1 and up; "No changes." whatever the verbosity."""
        if verbosity >= 1:
            for line in [*plan.lines(), *plan.notes]:
                self.stdout.write(line)
        if not plan.changes:
            self.stdout.write(policy.NO_CHANGES)
