import os
import signal
import subprocess
import sys
import time

from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = (
        "Serve the site and run the django-q2 task cluster beside it; Ctrl-C stops both. --production serves "
        "with gunicorn (WEB_CONCURRENCY workers) instead of Django's development server."
    )

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--production", action="store_true", help="gunicorn instead of runserver")

    def handle(self, *args, port: int, host: str, production: bool, **options):
        if not 1 <= port <= 65535:
            raise CommandError(f"--port must be between 1 and 65535; it is {port}.")
        manage = [sys.executable, "manage.py"]
        if production:
            workers = os.environ.get("WEB_CONCURRENCY", "2")
            if not workers.isdigit() or not 1 <= int(workers) <= 64:
                raise CommandError(f"WEB_CONCURRENCY must be a number of web workers from 1 to 64; it is {workers!r}.")
            web = [sys.executable, "-m", "gunicorn", "pimsite.wsgi:application", "--bind", f"{host}:{port}",
                   "--workers", workers, "--access-logfile", "-", "--graceful-timeout", "20"]  # fmt: skip
        else:
            web = [*manage, "runserver", "--noreload", f"{host}:{port}"]
        children = [
            subprocess.Popen([*manage, "qcluster"]),  # noqa: S603  our own interpreter and script
            subprocess.Popen(web),  # noqa: S603
        ]
        server = "gunicorn" if production else "the development server"
        self.stdout.write(self.style.SUCCESS(f"PIM on http://{host}:{port}/ ({server}) with its task cluster. "
                                             "Ctrl-C stops both."))  # fmt: skip

        def stop(*_):
            for child in children:
                if child.poll() is None:
                    child.send_signal(signal.SIGTERM)
            deadline = time.monotonic() + 15
            for child in children:
                try:
                    child.wait(timeout=max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    child.kill()

        signal.signal(signal.SIGTERM, lambda *_: (stop(), sys.exit(0)))
        try:
            while all(child.poll() is None for child in children):
                time.sleep(0.5)
        except KeyboardInterrupt:
            pass
        finally:
            stop()
        failed = [" ".join(child.args[1:3]) for child in children
                  if child.returncode not in (0, -signal.SIGTERM, None)]  # fmt: skip
        if failed:
            raise CommandError(f"{', '.join(failed)} stopped unexpectedly.")
