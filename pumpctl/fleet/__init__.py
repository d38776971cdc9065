"""Many hosts, one record: ship each host's journal into PostgreSQL and read the fleet back.

The host journal stays the source of truth; ``ship`` copies its records, in order and
idempotently, together with the daemon's signed head, and the server re-verifies both before it
keeps them (``sql/schema.sql``). Fleet views read every shipped journal through the same report
code as a single host. Needs the ``fleet`` extra (psycopg 3); see ``docs/fleet.md``.
"""
