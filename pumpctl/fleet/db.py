"""The fleet server connection: psycopg loaded on demand, errors as one line, the schema's state.

psycopg lives in the optional ``fleet`` extra; every entry point goes through
:func:`connect`, which says which extra to install when it is missing. Server errors are told
apart by SQLSTATE, never by message text: the schema's own checks raise class ``PF``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from importlib import resources
from typing import TYPE_CHECKING, Any, Literal

from pumpctl.errors import JournalTamperedError, PumpctlError

if TYPE_CHECKING:
    import psycopg

SCHEMA = "pumpctl"
SCHEMA_NAME = "pumpctl.fleet"
SCHEMA_VERSION = 1
TABLES = ("schema_info", "journals", "keys", "accepted_keys", "records", "heads", "refusals")
#: SQLSTATE class of the schema's own refusals (a gap, a fork, a bad signature, append-only).
REFUSAL_CLASS = "PF"
EXTRA_HINT = "install the fleet extra: pip install 'pumpctl[fleet]'"

SchemaState = Literal["absent", "ours", "foreign", "newer"]


class FleetError(PumpctlError):
    """The fleet server cannot be reached or used (nothing was changed on the host)."""


class FleetRejectedError(FleetError, JournalTamperedError):
    """The fleet server refused records: a fork, a broken chain or a signature that fails."""


def load_psycopg() -> Any:
    """The psycopg module, or a FleetError naming the extra to install."""
    try:
        import psycopg  # noqa: PLC0415  (an optional extra, loaded only by fleet commands)
    except ImportError as err:
        raise FleetError(
            f"the PostgreSQL client (psycopg 3) is not installed: {EXTRA_HINT}"
        ) from err
    return psycopg


def one_line(err: BaseException) -> str:
    """An error's text on one line (libpq's messages span several)."""
    diag = getattr(err, "diag", None)
    primary = getattr(diag, "message_primary", None) if diag is not None else None
    text = primary or str(err) or type(err).__name__
    return re.sub(r"\s+", " ", text).strip()


def describe(dsn: str) -> str:
    """Where a connection string points, for messages: never its password."""
    pg = load_psycopg()
    try:
        info = pg.conninfo.conninfo_to_dict(dsn)
    except pg.ProgrammingError:
        return "<unreadable connection string>"
    host = info.get("host") or "local socket"
    port = f":{info['port']}" if info.get("port") else ""
    user = f"{info['user']}@" if info.get("user") else ""
    return f"{user}{host}{port}/{info.get('dbname') or '(default database)'}"


def connect(
    dsn: str, *, timeout_s: int = 10, application: str = "pumpctl"
) -> psycopg.Connection[Any]:
    """A connection to the fleet server, or one clear FleetError (wrong DSN, password, down)."""
    pg = load_psycopg()
    try:
        pg.conninfo.conninfo_to_dict(dsn)
    except pg.ProgrammingError as err:
        raise FleetError(
            f"{dsn!r} is not a PostgreSQL connection string ({one_line(err)})"
        ) from err
    where = describe(dsn)
    try:
        conn: psycopg.Connection[Any] = pg.connect(
            dsn, connect_timeout=timeout_s, application_name=application
        )
    except pg.Error as err:
        raise FleetError(f"cannot connect to the fleet server {where}: {one_line(err)}") from err
    return conn


def schema_state(conn: psycopg.Connection[Any]) -> tuple[SchemaState, str]:
    """Whether the ``pumpctl`` schema is absent, ours (and current), someone else's, or newer."""
    row = conn.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", (SCHEMA,)).fetchone()
    if row is None:
        return "absent", f"the database has no schema {SCHEMA}"
    missing = [
        t
        for t in TABLES
        if conn.execute("SELECT to_regclass(%s)", (f"{SCHEMA}.{t}",)).fetchone() == (None,)
    ]
    if missing:
        return "foreign", (
            f"schema {SCHEMA} exists but was not made by pumpctl (no table {', '.join(missing)})"
        )
    info = conn.execute(
        "SELECT version FROM pumpctl.schema_info WHERE name = %s", (SCHEMA_NAME,)
    ).fetchone()
    if info is None:
        return "foreign", f"schema {SCHEMA} exists but was not made by pumpctl (no version row)"
    version = int(info[0])
    if version > SCHEMA_VERSION:
        return "newer", (
            f"schema {SCHEMA} is version {version}; this pumpctl knows up to {SCHEMA_VERSION}: "
            "upgrade pumpctl"
        )
    return "ours", f"schema {SCHEMA} version {version}"


def require_schema(conn: psycopg.Connection[Any], where: str) -> None:
    """Raise one clear FleetError unless the fleet schema is there and ours."""
    pg = load_psycopg()
    try:
        state, text = schema_state(conn)
    except pg.errors.InsufficientPrivilege as err:
        raise FleetError(
            f"fleet server {where}: this role may not read the {SCHEMA} schema "
            f"({one_line(err)}); an administrator grants it with pumpctl fleet init --grant-ship"
        ) from err
    finally:
        conn.rollback()
    if state == "absent":
        raise FleetError(
            f"fleet server {where}: {text}; an administrator creates it once with "
            "pumpctl fleet init --to URI"
        )
    if state != "ours":
        raise FleetError(f"fleet server {where}: {text}; refusing to use it")


def _sql(name: str) -> str:
    return resources.files("pumpctl.fleet").joinpath("sql", name).read_text(encoding="utf-8")


def init_schema(
    conn: psycopg.Connection[Any],
    where: str,
    *,
    ship_roles: Iterable[str] = (),
    read_roles: Iterable[str] = (),
) -> bool:
    """Create the schema when absent and grant roles; returns True when it was created."""
    pg = load_psycopg()
    from psycopg import sql  # noqa: PLC0415

    state, text = schema_state(conn)
    conn.rollback()
    if state in ("foreign", "newer"):
        raise FleetError(f"fleet server {where}: {text}; refusing to touch it")
    created = state == "absent"
    try:
        with conn.transaction():
            if created:
                conn.execute(f"CREATE SCHEMA {SCHEMA}")
                conn.execute(_sql("ed25519.sql"))
                conn.execute(_sql("schema.sql"))
            for role in ship_roles:
                name = sql.Identifier(role)
                conn.execute(sql.SQL("GRANT USAGE ON SCHEMA pumpctl TO {}").format(name))
                conn.execute(
                    sql.SQL(
                        "GRANT SELECT ON pumpctl.schema_info, pumpctl.journals, pumpctl.records,"
                        " pumpctl.heads TO {}"
                    ).format(name)
                )
                conn.execute(
                    sql.SQL(
                        "GRANT INSERT ON pumpctl.records, pumpctl.heads, pumpctl.refusals TO {}"
                    ).format(name)
                )
            for role in read_roles:
                name = sql.Identifier(role)
                conn.execute(sql.SQL("GRANT USAGE ON SCHEMA pumpctl TO {}").format(name))
                conn.execute(
                    sql.SQL("GRANT SELECT ON ALL TABLES IN SCHEMA pumpctl TO {}").format(name)
                )
    except pg.Error as err:
        raise FleetError(
            f"fleet server {where}: cannot set up the schema: {one_line(err)}"
        ) from err
    return created
