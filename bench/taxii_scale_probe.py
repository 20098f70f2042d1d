"""Cross-check of bench/taxii.py at 1,000,000 objects (issue 18): on ONE node and
at one moment's load, the first page (Basic, Bearer, filtered) with 1,000
objects ingested through TAXII, then with the store grown to PROBE_N (default
1,000,000) by copying the newest row in SQL (own stix_id and date_added; not
through TAXII, so not an ingest measurement), and PostgreSQL's EXPLAIN ANALYZE of
the first-page query at that size. Separates the store's size from the load
when a long run's sizes were measured at different loads.

    PROBE_N=1000000 python bench/taxii_scale_probe.py   (~7 minutes; prints only)"""

import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))
import taxii  # bench/taxii.py: its nodes, clients and objects

N = int(os.environ.get("PROBE_N", "1000000"))
# Copies of the newest row, each with its own stix_id and date_added.
GROW = """
insert into intel_stixobject (collection_id, stix_id, stix_type, spec_version, version,
    date_added, tlp, revoked, latest, earliest, body, search_text, handling,
    handling_bound, expires, twin)
select t.collection_id, 'indicator--' || md5(g::text)::uuid, t.stix_type, t.spec_version,
    t.version, t.date_added + (g || ' milliseconds')::interval, t.tlp, t.revoked, t.latest,
    t.earliest, t.body, t.search_text, t.handling, t.handling_bound, t.expires, t.twin
from generate_series(1, %(copies)s) g,
    (select * from intel_stixobject order by date_added desc limit 1) t
"""
EXPLAIN = """
from accord.intel.models import Collection
from accord.intel import queries
from accord.intel.release import Audience
from django.db import connection
c = Collection.objects.get(alias='shared')
qs = queries.filtered(c, {}, audience=Audience.PARTNER).order_by('date_added', 'pk')[:101]
sql, params = qs.query.sql_with_params()
with connection.cursor() as cur:
    cur.execute('EXPLAIN (ANALYZE, BUFFERS) ' + sql, params)
    print('\\n'.join(r[0] for r in cur.fetchall()))
"""
EVERYTHING = {"type": "indicator", "added_after": "2000-01-01T00:00:00Z"}


def probe(server, label: str) -> None:
    """Median of 7 first pages with each credential, and filtered."""
    out = {}
    for name, client, filters in (
        ("basic", server.basic, {}),
        ("bearer", server.bearer, {}),
        ("bearer_filtered", server.bearer, EVERYTHING),
    ):
        times = []
        for _ in range(7):
            began = time.perf_counter()
            client.collection.get_objects(limit=100, **filters)
            times.append(time.perf_counter() - began)
        out[name] = round(statistics.median(times) * 1000, 1)
    print(label, json.dumps(out), "load", os.getloadavg(), flush=True)


def main() -> None:
    root = Path(tempfile.mkdtemp(prefix="accord-bench-probe-"))
    server = taxii.AccordServer(root, "postgres", "basic")
    try:
        for envelope in taxii.envelopes_of(taxii.build_objects(1000), 500):
            server.client.collection.add_objects(envelope, wait_for_completion=False)
        probe(server, "n=1000")
        with psycopg.connect(server.node.database_url) as conn:
            conn.execute(GROW, {"copies": N - 1000})
            conn.execute("analyze intel_stixobject")
        probe(server, f"n={N}")
        print(server.node.accord("manage", "shell", "-c", EXPLAIN).stdout)
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
