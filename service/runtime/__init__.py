"""What the API and the worker share at run time.

Configuration, logs, the job queue, job-ended events, job states, the metrics registry.

Both sides import these; these import neither side (and nothing of Flask).
"""
