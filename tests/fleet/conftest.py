"""Fixtures of the fleet tests: one throwaway PostgreSQL cluster per run, a database per test.

When no server can be started the tests skip with the reason; with PUMPCTL_REQUIRE_POSTGRES=1
(as .ci/run sets) they fail instead, so CI cannot pass without having run them.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.fleet.pgcluster import REQUIRE_ENV, Cluster, ClusterUnavailable, start_cluster

SHIP_ROLE = "shipper"
SHIP_PASSWORD = "ship-secret"  # noqa: S105  (a throwaway test server)
READ_ROLE = "monitor"
READ_PASSWORD = "read-secret"  # noqa: S105
_names = itertools.count(1)


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[Cluster]:
    """A PostgreSQL server for the whole run, in a temporary directory, stopped at the end."""
    base = Path(tempfile.mkdtemp(prefix="pumpctl-pg-"))
    os.chmod(base, 0o755)  # noqa: S103  (the server runs as another account under root)
    try:
        try:
            import psycopg  # noqa: PLC0415
        except ImportError as err:
            raise ClusterUnavailable("psycopg missing: pip install -e '.[test]'") from err
        cluster = start_cluster(base / "cluster")
    except ClusterUnavailable as err:
        shutil.rmtree(base, ignore_errors=True)
        if os.environ.get(REQUIRE_ENV) == "1":
            pytest.fail(f"PostgreSQL is required ({REQUIRE_ENV}=1) but cannot start: {err}")
        pytest.skip(f"PostgreSQL cannot start here: {err}")
    with psycopg.connect(cluster.admin_dsn(), autocommit=True) as conn:
        conn.execute(f"CREATE ROLE {SHIP_ROLE} LOGIN PASSWORD '{SHIP_PASSWORD}'")
        conn.execute(f"CREATE ROLE {READ_ROLE} LOGIN PASSWORD '{READ_PASSWORD}'")
    try:
        yield cluster
    finally:
        with contextlib.suppress(ClusterUnavailable):
            cluster.stop("immediate")
        shutil.rmtree(base, ignore_errors=True)


@dataclass
class FleetDb:
    """A fresh database with the fleet schema: the owner's DSN and the shipping role's."""

    cluster: Cluster
    name: str

    @property
    def admin(self) -> str:
        return self.cluster.admin_dsn(self.name)

    @property
    def ship(self) -> str:
        return self.cluster.tcp_dsn(SHIP_ROLE, SHIP_PASSWORD, self.name)

    @property
    def read(self) -> str:
        return self.cluster.tcp_dsn(READ_ROLE, READ_PASSWORD, self.name)

    def query(self, sql: str, *params: object) -> list[tuple[object, ...]]:
        import psycopg  # noqa: PLC0415

        with psycopg.connect(self.admin) as conn:
            return list(conn.execute(sql, params).fetchall())


def new_database(cluster: Cluster, *, schema: bool = True) -> FleetDb:
    import psycopg  # noqa: PLC0415

    from pumpctl.fleet.db import init_schema  # noqa: PLC0415

    name = f"fleet_{os.getpid()}_{next(_names)}"
    with psycopg.connect(cluster.admin_dsn(), autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    db = FleetDb(cluster, name)
    if schema:
        with psycopg.connect(db.admin) as conn:
            init_schema(conn, name, ship_roles=[SHIP_ROLE], read_roles=[READ_ROLE])
    return db


@pytest.fixture
def fleet_db(pg_cluster: Cluster) -> FleetDb:
    """A new database holding the fleet schema, with the shipping and reading roles granted."""
    return new_database(pg_cluster)
