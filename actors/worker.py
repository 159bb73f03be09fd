"""The worker's entry point: `dramatiq actors.worker`.

Chooses the broker from the environment before the actors are imported, as Dramatiq needs.
"""

from actors import boot

broker = boot.from_env("worker").broker

import actors.conflict  # noqa: E402,F401  (registers the actors on the broker above)
