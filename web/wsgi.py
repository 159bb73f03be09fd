"""gunicorn's target: `gunicorn web.wsgi:app`."""

from web.app import get_app

app = get_app()
