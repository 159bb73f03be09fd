"""Dramatiq middleware that gives each worker thread a database connection."""

from dramatiq.middleware import Middleware

from models.db import database


class DatabaseConnection(Middleware):
    """Open the thread's connection before a message, and drop it after a failure.

    A failed message may have failed because the connection broke (the server restarted, a
    proxy cut it); closing it makes the retry start on a fresh one instead of failing again.
    """

    def before_process_message(self, broker, message):
        database.connect(reuse_if_open=True)

    def after_process_message(self, broker, message, *, result=None, exception=None):
        if exception is not None and not database.is_closed():
            database.close()

    after_skip_message = after_process_message
