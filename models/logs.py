"""Every process logs to stdout, one line per event."""

import logging
import sys

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def configure(level: int = logging.INFO) -> None:
    logging.basicConfig(level=level, stream=sys.stdout, format=FORMAT, force=True)
