"""`make bench`: PIM's speed, measured against baselines taken in the same run.

A throw-away PostgreSQL server, a bulk-loaded data set (bench.seed), the app under gunicorn with
production settings (bench.settings), and each figure measured in rounds that alternate with its
baseline (bench.measure), so the machine's noise hits both alike. `python -m bench --quick` for the
small data set; results go to bench/results/ as JSON and Markdown (bench.report)."""
