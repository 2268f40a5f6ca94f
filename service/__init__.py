"""gategraph: forward values and gradients of add/multiply gate graphs, as a service.

Kept empty on purpose: importing ``service.graph`` (the pure core) must not pull in
Flask, Celery or SQLAlchemy. The app factory lives in ``service.api.app_factory``.
"""
