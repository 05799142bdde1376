"""Credentials for restricted FDSN/EIDA data, from an Airflow connection.

A run conf never carries a secret: it names an Airflow connection (``data_connection``), and
the connection holds either a user name and password (HTTP digest authentication on
``/queryauth``, the FDSN way) or an EIDA token (``{"eida_token": "-----BEGIN PGP MESSAGE..."}``
in the connection's extra; ObsPy exchanges it over HTTPS for temporary credentials).
Connections live in Airflow's metadata database, a secrets backend, or an
``AIRFLOW_CONN_<ID>`` environment variable, never in code or DAG files. The values are
registered with Airflow's log masker as soon as they are read and never appear in a ``repr``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from cmtflow.errors import CmtflowError

log = logging.getLogger(__name__)


class CredentialsError(CmtflowError):
    """The named connection is missing or unusable."""


@dataclass(frozen=True)
class Credentials:
    """What a data centre wants to see (the secret fields never print)."""

    connection: str
    user: str | None = field(default=None, repr=False)
    password: str | None = field(default=None, repr=False)
    eida_token: str | None = field(default=None, repr=False)

    def client_kwargs(self) -> dict:
        """Keyword arguments for ObsPy's FDSN ``Client``."""
        if self.eida_token:
            return {"eida_token": self.eida_token}
        return {"user": self.user, "password": self.password}


def _mask(value: str | None) -> None:
    if value:
        from airflow.sdk.log import mask_secret

        mask_secret(value)


def from_connection(conn_id: str) -> Credentials:
    """The credentials of Airflow connection ``conn_id``.

    :raises CredentialsError: no such connection, or it has neither a password nor a token.
    """
    from airflow.sdk import Connection

    try:
        conn = Connection.get(conn_id)
    except Exception as exc:  # AirflowNotFoundException and the secrets backends' own errors
        raise CredentialsError(f"data_connection: no Airflow connection {conn_id!r} ({type(exc).__name__})") from None
    token = (conn.extra_dejson or {}).get("eida_token")
    _mask(conn.password)
    _mask(token)
    if not token and not (conn.login and conn.password):
        raise CredentialsError(f"data_connection: connection {conn_id!r} has neither login and password nor an "
                               "'eida_token' in its extra")
    log.info("using the credentials of Airflow connection %s for restricted data", conn_id)
    return Credentials(conn_id, conn.login, conn.password, token)
