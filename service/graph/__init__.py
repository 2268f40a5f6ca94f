"""The pure core: graph definitions, validation, compilation, forward and backward passes.

Imports no Flask, Celery or SQLAlchemy, so it can be tested and benchmarked alone.
"""

from .engine import Evaluation, evaluate
from .errors import InvalidInput, Problem
from .job_inputs import JobInputs, bind_inputs
from .limits import DEFAULT_LIMITS, Limits
from .numbers import MalformedJSON, json_float, json_floats, loads
from .plan import Plan
from .request_schemas import GraphDefinitionSchema, JobRequestSchema, load_graph

__all__ = [
    "DEFAULT_LIMITS",
    "Evaluation",
    "GraphDefinitionSchema",
    "InvalidInput",
    "JobInputs",
    "JobRequestSchema",
    "Limits",
    "MalformedJSON",
    "Plan",
    "Problem",
    "bind_inputs",
    "evaluate",
    "json_float",
    "json_floats",
    "load_graph",
    "loads",
]
