"""The WSGI entry point for gunicorn: ``gunicorn service.wsgi:app``."""

from service.api.app_factory import create_app

app = create_app()
