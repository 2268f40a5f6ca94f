"""What the API and the worker share at run time: configuration, logs, the job queue, job-ended events, job states, metrics.

Both sides import these; these import neither side (and nothing of Flask).
"""
