"""Storage through SQLAlchemy: tenants and keys, graphs, jobs, and per-node results.

The ORM is for the few rows of tenants, graphs and jobs; bulk node data (ids, values,
gradients) is stored as chunked arrays through SQLAlchemy Core, so that a 10^6-node job is
tens of rows, and one node is found through its chunk's primary key, never by a scan.
"""
