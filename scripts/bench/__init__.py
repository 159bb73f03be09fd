"""The benchmark: `python -m scripts.bench --help`. A developer's tool, not part of the
runtime install (pyproject.toml packages `scripts` without it; its tools are the dev extra's)."""
