"""A small Python client of the gategraph API, for other services and for the `gategraph` CLI.

- Every submission carries an ``Idempotency-Key`` (one per call, reused by its retries), so a
  retry after a network error never creates a second job.
- Requests are retried by urllib3's ``Retry`` (mounted on the requests session): exponential
  backoff on connection errors and on 429, 502, 503 and 504, honouring ``Retry-After`` (at most
  30 s). POST is retried too, which is safe because every submission carries its key.
- ``submit(..., wait=N)`` asks with ``Prefer: wait=N`` for the ended job in the same answer: a fast
  job is one round trip. ``wait`` long-polls ``GET /v1/jobs/{id}?wait=`` until the job ends.
- ``node_arrays`` reads ``/results`` as an Arrow stream into NumPy arrays, column by column (no
  Python object per number); ``results`` streams the answer's bytes in any of its formats.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from service.runtime.job_states import TERMINAL_STATES

TERMINAL = TERMINAL_STATES
RETRY_STATUSES = (429, 502, 503, 504)
RETRY_AFTER_MAX = 30  # seconds: a longer Retry-After is waited for this long, then asked again
MAX_WAIT = 30  # seconds: the service's default MAX_WAIT, the longest Prefer: wait= asked for
RESULT_TYPES = {
    "arrow": "application/vnd.apache.arrow.stream",
    "ndjson": "application/x-ndjson",
    "csv": "text/csv",
}


class ApiError(Exception):
    """An error answer from the service; ``problem`` is its RFC 9457 body."""

    def __init__(self, status: int, problem: dict[str, Any]):
        self.status, self.problem = status, problem
        errors = "; ".join(f"{e['path']}: {e['message']}" for e in problem.get("errors", [])[:5])
        super().__init__(
            f"{status} {problem.get('title', '')}: {problem.get('detail', '')}" + (f" ({errors})" if errors else "")
        )


_NODE_NUMBERS = ("value", "grad", "tangent", "grad_tangent")


@dataclass(frozen=True)
class NodeArrays:
    """A job's nodes as arrays, in node order; tangents None for a job without a direction."""

    ids: list[str]
    values: np.ndarray
    grads: np.ndarray
    tangents: np.ndarray | None = None
    grad_tangents: np.ndarray | None = None

    def __iter__(self) -> Iterator[Any]:
        """``ids, values, grads = client.node_arrays(job)``, as before directions existed."""
        return iter((self.ids, self.values, self.grads))


class Client:
    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        timeout: float = 60.0,
        retries: int = 5,
        backoff: float = 0.5,
        connect_retries: int | None = None,
        session: requests.Session | None = None,
    ):
        """``retries``: of each request, after an error answer in RETRY_STATUSES or a connection error;
        ``connect_retries`` (default ``retries``) bounds the latter alone: a CLI gives up fast on a wrong URL.
        """
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.session = session or requests.Session()
        self.session.headers["Authorization"] = f"Bearer {api_key}"
        policy = Retry(
            total=None,
            connect=retries if connect_retries is None else connect_retries,
            read=retries,  # a dropped answer: every call is safe to repeat (reads, deletes, keyed submissions)
            status=retries,
            other=0,
            status_forcelist=RETRY_STATUSES,
            allowed_methods=None,  # every method: submissions carry an Idempotency-Key
            backoff_factor=backoff,
            retry_after_max=RETRY_AFTER_MAX,
            raise_on_status=False,  # the last error answer is raised as an ApiError, with its problem
        )
        adapter = HTTPAdapter(max_retries=policy)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)

    # graphs
    def create_graph(self, definition: dict[str, Any]) -> dict[str, Any]:
        return self._call("POST", "/v1/graphs", json=definition)

    def get_graph(self, graph_id: str) -> dict[str, Any]:
        return self._call("GET", f"/v1/graphs/{graph_id}")

    def delete_graph(self, graph_id: str) -> None:
        self._call("DELETE", f"/v1/graphs/{graph_id}")

    # jobs
    def submit(
        self,
        graph: str | dict[str, Any],
        inputs: dict[str, Any],
        output_grads: dict[str, Any] | None = None,
        check_gradients: bool = False,
        idempotency_key: str | None = None,
        tangents: dict[str, Any] | None = None,
        wait: float = 0,
        ttl_seconds: int | None = None,
    ) -> dict[str, Any]:
        """Submit a job on a stored graph (its id) or on a definition (stored in the same call).

        ``tangents``: a direction over the inputs; every node then also has its tangent and grad_tangent.
        ``wait``: seconds (up to 30) the answer may wait for the job to end (``Prefer: wait``); the job
        answered is then already ended if it took less, else still queued or running.
        ``ttl_seconds``: keep the job this long after it ends (default and most: the service's JOB_TTL);
        as every submission here carries an Idempotency-Key, the job is kept at least a day.
        """
        body: dict[str, Any] = {"inputs": inputs}
        if output_grads is not None:
            body["output_grads"] = output_grads
        if check_gradients:
            body["check_gradients"] = True
        if tangents is not None:
            body["tangents"] = tangents
        if ttl_seconds is not None:
            body["ttl_seconds"] = ttl_seconds
        if isinstance(graph, str):
            path = f"/v1/graphs/{graph}/jobs"
        else:
            path, body = "/v1/jobs", {"graph": graph, **body}
        headers = {"Idempotency-Key": idempotency_key or str(uuid.uuid4())}
        seconds = min(MAX_WAIT, int(wait))
        if seconds > 0:
            headers["Prefer"] = f"wait={seconds}"
        return self._call("POST", path, json=body, headers=headers, timeout=self.timeout + max(0, seconds))

    def job(self, job_id: str, wait: float = 0) -> dict[str, Any]:
        return self._call(
            "GET", f"/v1/jobs/{job_id}", params={"wait": wait} if wait else None, timeout=self.timeout + wait
        )

    def wait(
        self, job_id: str, timeout: float | None = None, on_update: Callable[[dict], None] | None = None
    ) -> dict[str, Any]:
        """The job once it has ended. :raise TimeoutError: still running after ``timeout`` seconds."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            left = 30.0 if deadline is None else deadline - time.monotonic()
            job = self.job(job_id, wait=max(0.0, min(30.0, left)))
            if on_update:
                on_update(job)
            if job["status"] in TERMINAL:
                return job
            if deadline is not None and time.monotonic() >= deadline:
                raise TimeoutError(f"job {job_id} is still {job['status']} after {timeout} s")

    def cancel(self, job_id: str) -> dict[str, Any]:
        return self._call("POST", f"/v1/jobs/{job_id}/cancel")

    def delete_job(self, job_id: str) -> None:
        self._call("DELETE", f"/v1/jobs/{job_id}")

    # nodes
    def nodes(
        self, job_id: str, order: str = "index", page_size: int = 10_000, limit: int | None = None
    ) -> Iterator[dict[str, Any]]:
        """Every node of a succeeded job (or the first ``limit``), page by page."""
        cursor, given = None, 0
        while True:
            size = page_size if limit is None else min(page_size, limit - given)
            params = {"limit": size, "order": order, **({"cursor": cursor} if cursor else {})}
            page = self._call("GET", f"/v1/jobs/{job_id}/nodes", params=params)
            yield from page["items"]
            given += len(page["items"])
            cursor = page["next_cursor"]
            if cursor is None or (limit is not None and given >= limit):
                return

    def node(self, job_id: str, node_id: str) -> dict[str, Any]:
        return self._call("GET", f"/v1/jobs/{job_id}/nodes/{node_id}")

    def top(self, job_id: str, n: int = 10) -> list[dict[str, Any]]:
        """The n nodes with the largest |gradient|."""
        return list(self.nodes(job_id, order="-abs_grad", page_size=n, limit=n))

    def node_arrays(self, job_id: str) -> NodeArrays:
        """Every node's numbers as arrays of shape (n_nodes,), or (n_nodes, B) for a batch; non-finite as floats.

        Unpacks as ``ids, values, grads``; ``.tangents`` and ``.grad_tangents`` for a job with a direction.
        """
        with self._results(job_id, "arrow") as response:
            table = pa.ipc.open_stream(response.raw).read_all()
        arrays = {name: _numbers(table.column(name)) for name in _NODE_NUMBERS if name in table.column_names}
        return NodeArrays(
            table.column("id").to_pylist(),
            arrays["value"],
            arrays["grad"],
            arrays.get("tangent"),
            arrays.get("grad_tangent"),
        )

    def results(self, job_id: str, fmt: str = "ndjson", chunk_bytes: int = 1 << 20) -> Iterator[bytes]:
        """The bytes of ``/results`` in ``fmt`` (arrow, ndjson or csv), as they arrive."""
        with self._results(job_id, fmt) as response:
            yield from response.iter_content(chunk_bytes)

    def _results(self, job_id: str, fmt: str) -> requests.Response:
        response = self.session.get(
            f"{self.base_url}/v1/jobs/{job_id}/results",
            headers={"Accept": RESULT_TYPES[fmt]},
            stream=True,
            timeout=self.timeout,
        )
        if response.status_code >= 400:
            raise ApiError(response.status_code, _problem(response))
        response.raw.decode_content = True
        return response

    # transport
    def _call(self, method: str, path: str, timeout: float | None = None, **kwargs: Any) -> Any:
        response = self.session.request(method, self.base_url + path, timeout=timeout or self.timeout, **kwargs)
        if response.status_code >= 400:
            raise ApiError(response.status_code, _problem(response))
        return response.json() if response.content else None


def _problem(response: requests.Response) -> dict[str, Any]:
    try:
        return response.json()
    except ValueError:
        return {"title": response.reason, "detail": response.text[:200]}


def _numbers(column: pa.ChunkedArray) -> np.ndarray:
    """A float64 column, or a fixed_size_list<float64>[B] one, as an (n,) or (n, B) array, copied once in all."""
    array = column.combine_chunks()
    if pa.types.is_fixed_size_list(array.type):
        return array.flatten().to_numpy().reshape(len(array), array.type.list_size)
    return array.to_numpy()
