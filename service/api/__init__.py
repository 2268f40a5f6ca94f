"""The HTTP API: blueprints, schemas, auth and errors around the core and storage."""
