"""The production settings (bench.run sets PIM_ENV=production and its required variables) with
two bench-only changes: the URLconf adds the bare baseline views (bench.urls), and static files
are collected into the run's temporary directory rather than the checkout's staticfiles/."""

import os

from pimsite.settings import *  # noqa: F403  the product's settings, unchanged but for the lines below

ROOT_URLCONF = "bench.urls"
STATIC_ROOT = os.environ.get("BENCH_STATIC_ROOT", STATIC_ROOT)  # noqa: F405
