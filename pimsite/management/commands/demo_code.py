from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django_otp.oath import totp

from pimsite.management.commands.seed_demo import DEMO_TOTP_KEY_HEX


class Command(BaseCommand):
    help = "Print the current verification code of the demo accounts (they share the RFC 6238 test key)."

    def handle(self, *args, **options):
        if settings.PIM_ENV == "production":
            raise CommandError("demo_code is refused when PIM_ENV=production.")
        code = totp(bytes.fromhex(DEMO_TOTP_KEY_HEX), step=30, t0=0, digits=6)
        self.stdout.write(f"{code:06d}")
