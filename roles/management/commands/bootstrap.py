import getpass
import os

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from roles.services import bootstrap_first_administrator


class Command(BaseCommand):
    help = (
        "Create the first account, with permanent active Global Administrator and Privileged Role "
        "Administrator at '/'. Refused once anyone holds either role. The password comes from "
        "PIM_BOOTSTRAP_PASSWORD or a prompt."
    )

    def add_arguments(self, parser):
        parser.add_argument("--username", required=True)
        parser.add_argument("--email", required=True)

    def handle(self, *args, username: str, email: str, **options):
        password = os.environ.get("PIM_BOOTSTRAP_PASSWORD")
        if not password:
            if not options.get("interactive", True) or not os.isatty(0):
                raise CommandError("Set PIM_BOOTSTRAP_PASSWORD, or run in a terminal to be asked for the password.")
            password = getpass.getpass("Password: ")
            if password != getpass.getpass("Password (again): "):
                raise CommandError("The two passwords differ; nothing was changed.")
        try:
            user = bootstrap_first_administrator(username=username, email=email, password=password)
        except ValidationError as refusal:
            raise CommandError(" ".join(_messages(refusal))) from None
        self.stdout.write(
            self.style.SUCCESS(
                f"Created {user.username} with permanent active Global Administrator and Privileged Role "
                "Administrator at /. Sign in to enrol an authenticator app."
            )
        )


def _messages(refusal: ValidationError) -> list[str]:
    if hasattr(refusal, "error_dict"):
        return [f"{field}: {message}" for field, errors in refusal.message_dict.items() for message in errors]
    return refusal.messages
