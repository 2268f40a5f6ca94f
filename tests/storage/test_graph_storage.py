"""Graphs in the database: ids by chunk, the bucketed id index, the plan round trip, migrations."""

import numpy as np

from service.graph import evaluate, load_graph
from service.storage.database import session_factory
from service.storage.graph_rows import CHUNK_NODES, find_node, load_plan, node_rows, save_graph
from service.storage.migrate import check_schema, current_revision, head_revision


def chain(n):
    gates = [{"id": "g.0", "op": "add", "inputs": ["x", "c:1"]}]
    gates += [{"id": f"g.{i}", "op": "mul" if i % 2 else "add", "inputs": [f"g.{i - 1}", "x"]} for i in range(1, n)]
    return {"inputs": ["x"], "constants": {"c:1": 1.0}, "gates": gates}


def stored(settings, definition):
    from service.storage.models import Tenant

    plan = load_graph(definition)
    with session_factory(settings.database_url)() as session:
        tenant = Tenant(name="t")
        session.add(tenant)
        session.flush()
        graph = save_graph(session, tenant.id, plan)
        session.commit()
    return plan, graph.id


def test_every_id_is_found_and_unknown_ids_are_not(settings):
    plan, graph_id = stored(settings, chain(3 * CHUNK_NODES))
    from service.storage.models import Graph

    with session_factory(settings.database_url)() as session:
        graph = session.get(Graph, graph_id)
        for number in list(range(0, plan.n_nodes, 997)) + [plan.n_nodes - 1]:
            assert find_node(session, graph, plan.ids[number]) == number
        assert find_node(session, graph, "g.999999") is None
        ids, codes = node_rows(session, graph, CHUNK_NODES - 2, CHUNK_NODES + 2)  # across two chunks
        assert ids == plan.ids[CHUNK_NODES - 2 : CHUNK_NODES + 2]
        gate_numbers = [k - 2 for k in range(CHUNK_NODES - 2, CHUNK_NODES + 2)]  # node k is gate g.(k-2)
        assert codes.tolist() == [3 if i % 2 else 2 for i in gate_numbers]  # 2: add, 3: mul
        ids, codes = node_rows(session, graph, 0, 3)
        assert ids == ["x", "c:1", "g.0"] and codes.tolist() == [0, 1, 2]


def test_a_stored_plan_computes_what_the_original_does(settings):
    plan, graph_id = stored(settings, chain(1000))
    from service.storage.models import Graph

    with session_factory(settings.database_url)() as session:
        again = load_plan(session, session.get(Graph, graph_id))
    x = np.array([[0.5, 2.0]])
    a, b = evaluate(plan, x), evaluate(again, x)
    np.testing.assert_array_equal(a.values, b.values)
    np.testing.assert_array_equal(a.grads, b.grads)
    assert again.ids == plan.ids and again.output_ids == plan.output_ids


def test_migrations_are_at_head(settings):
    check_schema(settings.database_url)
    assert current_revision(settings.database_url) == head_revision(settings.database_url) == "0006"


def test_id_chunks_and_buckets_are_the_json_an_id_list_would_give(settings):
    """Written from the joined bytes, the rows are what orjson writes of the ids as a list of str, bucketed by crc32."""
    import zlib

    import orjson
    from sqlalchemy import select

    from service.storage.graph_rows import bucket_count
    from service.storage.models import GraphBucket, GraphChunk

    plan, graph_id = stored(settings, chain(2 * CHUNK_NODES + 5))
    ids = plan.node_ids.tolist()
    with session_factory(settings.database_url)() as session:
        chunks = session.scalars(
            select(GraphChunk.ids).where(GraphChunk.graph_id == graph_id).order_by(GraphChunk.chunk)
        )
        expected = [orjson.dumps(ids[s : s + CHUNK_NODES]).decode() for s in range(0, len(ids), CHUNK_NODES)]
        assert list(chunks) == expected
        rows = session.execute(select(GraphBucket.bucket, GraphBucket.entries).where(GraphBucket.graph_id == graph_id))
        buckets = {bucket: orjson.loads(entries) for bucket, entries in rows}
    n_buckets = bucket_count(len(ids))
    assert sorted(buckets) == list(range(n_buckets))
    for bucket, (bucket_ids, numbers) in buckets.items():
        assert numbers == sorted(numbers)  # in node order within a bucket
        assert bucket_ids == [ids[n] for n in numbers]
        assert all(zlib.crc32(ids[n].encode()) % n_buckets == bucket for n in numbers)
    assert sorted(n for _, numbers in buckets.values() for n in numbers) == list(range(len(ids)))


def test_ids_that_would_need_escaping_still_give_valid_json():
    import orjson

    from service.storage.graph_rows import _json_ids

    assert _json_ids(b"") == "[]"
    assert _json_ids(b"a\nb:1") == '["a","b:1"]'
    for odd in (b'say "hi"\nx', b"back\\slash", b"tab\there"):  # never in a compiled plan
        assert orjson.loads(_json_ids(odd)) == odd.decode().split("\n")
