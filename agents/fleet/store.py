"""A fleet's shared state in PostgreSQL: its cameras and standing queries, the nodes, and who holds which camera.

Each camera has one lease row: an owner and an expiry. A node's heartbeat (every ``fleet.renew_s``) is one
transaction on the database's clock (never the nodes' own, which may disagree):

1. it marks the node as seen;
2. it renews every lease the node still owns;
3. it claims free and expired cameras up to its share, locking the cameras' rows with ``FOR UPDATE SKIP LOCKED``
   so that two nodes claiming at once never take the same camera (each skips what the other locked);
4. when the node holds more than its share it names one camera to give back: the node stops watching it and
   then releases it (:meth:`FleetStore.give_back`), so a node that joins, or comes back, gets its share as the
   others let go, one camera per heartbeat each, and no camera is ever watched by two nodes.

A node's share is the fleet's cameras divided among the live nodes (seen within ``lease_s``), rounded up, and at
most its ``max_cameras``. A node that dies stops renewing; its leases expire after ``lease_s`` and the others
claim them on their next heartbeat.

Changes to the cameras or queries are announced on the ``feedwatch_fleet`` channel (LISTEN/NOTIFY).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any

from streamer.errors import MemoryStoreError

from ..config.models import CameraConfig, QueryConfig
from ..memory.pgconn import PgConnection

__all__ = ["CHANNEL", "FleetStore", "Lease", "NodeStatus"]

CHANNEL = "feedwatch_fleet"
FLEET_SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS fleet_meta (key text PRIMARY KEY, value text NOT NULL);
CREATE TABLE IF NOT EXISTS fleet_cameras (id text PRIMARY KEY, config jsonb NOT NULL, updated timestamptz NOT NULL);
CREATE TABLE IF NOT EXISTS fleet_queries (id text PRIMARY KEY, config jsonb NOT NULL, updated timestamptz NOT NULL);
CREATE TABLE IF NOT EXISTS fleet_leases (
    camera text PRIMARY KEY REFERENCES fleet_cameras (id) ON DELETE CASCADE,
    owner text,
    expires timestamptz,
    since timestamptz
);
CREATE INDEX IF NOT EXISTS fleet_leases_owner ON fleet_leases (owner);
CREATE TABLE IF NOT EXISTS fleet_nodes (
    id text PRIMARY KEY,
    api text,
    started timestamptz NOT NULL,
    seen timestamptz NOT NULL,
    lag_s double precision
);
"""


@dataclass(frozen=True, slots=True)
class Lease:
    camera: str
    owner: str | None
    held_s: float | None  # how long the owner has held it
    expires_in_s: float | None  # negative: expired, waiting for a claimer


@dataclass(frozen=True, slots=True)
class NodeStatus:
    id: str
    api: str | None
    seen_s_ago: float
    alive: bool
    lag_s: float | None  # how far behind its cameras' newest frames its scoring was, at its last heartbeat
    cameras: list[str] = field(default_factory=list)


class FleetStore:
    """The fleet tables in one PostgreSQL database. Thread-safe; calls block (run them in a thread from async code)."""

    def __init__(self, url: str, *, connect_timeout_s: float = 10.0) -> None:
        self._db = PgConnection(
            url, what="fleet database", check="fleet.url or memory.url", purpose="fleet.url",
            connect_timeout_s=connect_timeout_s,
        )  # fmt: skip
        self.url = url
        self.where = self._db.where
        with self._transaction() as cur:
            cur.execute("SELECT pg_advisory_xact_lock(hashtext('feedwatch-fleet-schema'))")
            cur.execute(_SCHEMA)
            cur.execute(
                "INSERT INTO fleet_meta VALUES ('schema_version', %s) ON CONFLICT (key) DO NOTHING",
                (str(FLEET_SCHEMA_VERSION),),
            )
            cur.execute("SELECT value FROM fleet_meta WHERE key = 'schema_version'")
            version = int(cur.fetchone()[0])
        if version != FLEET_SCHEMA_VERSION:
            self.close()
            raise MemoryStoreError(
                f"the fleet in {self.where} has schema version {version}; this feedwatch reads {FLEET_SCHEMA_VERSION}"
            )

    def _transaction(self) -> AbstractContextManager[Any]:
        return self._db.transaction()

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> FleetStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- what the fleet watches ------------------------------------------------------------------

    def import_config(self, cameras: Sequence[CameraConfig], queries: Sequence[QueryConfig]) -> dict[str, list[str]]:
        """Make the fleet's cameras and queries these (added, changed and removed ones are announced)."""
        report: dict[str, list[str]] = {"cameras_added": [], "cameras_changed": [], "cameras_removed": [],
                                        "queries_added": [], "queries_changed": [], "queries_removed": []}  # fmt: skip
        with self._transaction() as cur:
            for table, kind, items in (("fleet_cameras", "cameras", cameras), ("fleet_queries", "queries", queries)):
                cur.execute(f"SELECT id, config FROM {table}")
                old = {i: c for i, c in cur.fetchall()}
                new = {item.id: item.model_dump(mode="json") for item in items}
                for item_id, conf in new.items():
                    if item_id not in old:
                        report[f"{kind}_added"].append(item_id)
                    elif old[item_id] != conf:
                        report[f"{kind}_changed"].append(item_id)
                    else:
                        continue
                    cur.execute(
                        f"INSERT INTO {table} VALUES (%s, %s, now()) ON CONFLICT (id) DO UPDATE SET "
                        "config = EXCLUDED.config, updated = now()",
                        (item_id, json.dumps(conf)),
                    )
                gone = sorted(set(old) - set(new))
                report[f"{kind}_removed"] = gone
                if gone:
                    cur.execute(f"DELETE FROM {table} WHERE id = ANY(%s)", (gone,))
            cur.execute("INSERT INTO fleet_leases (camera) SELECT id FROM fleet_cameras ON CONFLICT DO NOTHING")
            if any(report.values()):
                cur.execute("SELECT pg_notify(%s, %s)", (CHANNEL, json.dumps({"changed": "config"})))
        return report

    def cameras(self, ids: Sequence[str] | None = None) -> list[CameraConfig]:
        with self._transaction() as cur:
            if ids is None:
                cur.execute("SELECT config FROM fleet_cameras ORDER BY id")
            else:
                cur.execute("SELECT config FROM fleet_cameras WHERE id = ANY(%s) ORDER BY id", (list(ids),))
            return [CameraConfig.model_validate(row[0]) for row in cur.fetchall()]

    def queries(self) -> list[QueryConfig]:
        with self._transaction() as cur:
            cur.execute("SELECT config FROM fleet_queries ORDER BY id")
            return [QueryConfig.model_validate(row[0]) for row in cur.fetchall()]

    def set_query(self, query: QueryConfig) -> None:
        """Add or replace a standing query for the whole fleet, and tell every node."""
        with self._transaction() as cur:
            cur.execute(
                "INSERT INTO fleet_queries VALUES (%s, %s, now()) ON CONFLICT (id) DO UPDATE SET "
                "config = EXCLUDED.config, updated = now()",
                (query.id, json.dumps(query.model_dump(mode="json"))),
            )
            cur.execute("SELECT pg_notify(%s, %s)", (CHANNEL, json.dumps({"changed": "query", "id": query.id})))

    def delete_query(self, query_id: str) -> bool:
        with self._transaction() as cur:
            cur.execute("DELETE FROM fleet_queries WHERE id = %s", (query_id,))
            gone = bool(cur.rowcount)
            if gone:
                cur.execute("SELECT pg_notify(%s, %s)", (CHANNEL, json.dumps({"changed": "query", "id": query_id})))
        return gone

    # -- leases ----------------------------------------------------------------------------------

    def heartbeat(
        self, node: str, *, lease_s: float, max_cameras: int, api: str | None = None, lag_s: float | None = None
    ) -> tuple[list[str], str | None]:
        """Renew this node's leases and claim its share: the cameras it now holds, and one of them it should give
        back (stop watching it, then :meth:`give_back`) when it holds more than its share, else None."""
        with self._transaction() as cur:
            cur.execute(
                "INSERT INTO fleet_nodes VALUES (%s, %s, now(), now(), %s) ON CONFLICT (id) DO UPDATE SET "
                "seen = now(), api = EXCLUDED.api, lag_s = EXCLUDED.lag_s",
                (node, api, lag_s),
            )
            lease = f"{float(lease_s)} seconds"
            cur.execute(
                "UPDATE fleet_leases SET expires = now() + %s::interval WHERE owner = %s RETURNING camera",
                (lease, node),
            )
            held = sorted(r[0] for r in cur.fetchall())
            cur.execute("SELECT COUNT(*) FROM fleet_cameras")
            total = int(cur.fetchone()[0])
            cur.execute("SELECT COUNT(*) FROM fleet_nodes WHERE seen > now() - %s::interval", (lease,))
            alive = max(1, int(cur.fetchone()[0]))
            share = min(max_cameras, math.ceil(total / alive))
            if len(held) < share:
                cur.execute(
                    "SELECT c.id FROM fleet_cameras c JOIN fleet_leases l ON l.camera = c.id "
                    "WHERE l.owner IS NULL OR l.expires < now() ORDER BY l.expires NULLS FIRST, c.id "
                    "LIMIT %s FOR UPDATE OF c, l SKIP LOCKED",
                    (share - len(held),),
                )
                claim = [r[0] for r in cur.fetchall()]
                if claim:
                    cur.execute(
                        "UPDATE fleet_leases SET owner = %s, expires = now() + %s::interval, since = now() "
                        "WHERE camera = ANY(%s)",
                        (node, lease, claim),
                    )
                    held = sorted([*held, *claim])
            elif len(held) > share:
                # The camera held the shortest time (the least settled) goes, one per heartbeat.
                cur.execute(
                    "SELECT camera FROM fleet_leases WHERE owner = %s ORDER BY since DESC, camera DESC LIMIT 1", (node,)
                )
                return held, str(cur.fetchone()[0])
        return held, None

    def give_back(self, node: str, camera: str) -> None:
        """Release one camera this node stopped watching; the next node with room claims it."""
        with self._transaction() as cur:
            cur.execute(
                "UPDATE fleet_leases SET owner = NULL, expires = NULL, since = NULL WHERE camera = %s AND owner = %s",
                (camera, node),
            )

    def release(self, node: str) -> None:
        """Give back every camera this node holds (a clean shutdown), and leave the fleet."""
        with self._transaction() as cur:
            cur.execute("UPDATE fleet_leases SET owner = NULL, expires = NULL, since = NULL WHERE owner = %s", (node,))
            cur.execute("DELETE FROM fleet_nodes WHERE id = %s", (node,))

    def leases(self) -> list[Lease]:
        with self._transaction() as cur:
            cur.execute(
                "SELECT camera, owner, EXTRACT(EPOCH FROM now() - since), EXTRACT(EPOCH FROM expires - now()) "
                "FROM fleet_leases ORDER BY camera"
            )
            return [
                Lease(cam, owner, None if held is None else float(held), None if left is None else float(left))
                for cam, owner, held, left in cur.fetchall()
            ]

    def status(self, lease_s: float) -> list[NodeStatus]:
        """The nodes the fleet has seen, with their cameras."""
        with self._transaction() as cur:
            cur.execute("SELECT id, api, EXTRACT(EPOCH FROM now() - seen), lag_s FROM fleet_nodes ORDER BY id")
            nodes = cur.fetchall()
            cur.execute("SELECT owner, camera FROM fleet_leases WHERE owner IS NOT NULL AND expires > now()")
            held: dict[str, list[str]] = {}
            for owner, cam in cur.fetchall():
                held.setdefault(owner, []).append(cam)
        return [
            NodeStatus(node, api, float(ago), float(ago) <= lease_s, lag, sorted(held.get(node, [])))
            for node, api, ago, lag in nodes
        ]
