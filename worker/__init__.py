"""The Celery side of gategraph: the app, the job task, and the sweeper for lost jobs."""
