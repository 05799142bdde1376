"""FDSN web-service clients: how cmtflow reaches a data centre, with retries.

One place builds the ObsPy clients (a provider name such as ``EMSC``, ``INGV``, ``USGS``,
``GFZ``; the EIDA routing service; or a base URL with optional per-service URLs) and
one place retries them: timeouts and server errors (HTTP 5xx) are retried with
exponential backoff (so are connections dropped before or during an answer: a transfer cut
mid-record), "no data" (HTTP 204/404) is an answer, not a failure, and a service
that keeps failing ends in a :class:`ServiceError` naming the service and the URL.
"""

from __future__ import annotations

import http.client
import logging
import socket
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, TypeVar

from cmtflow.errors import CmtflowError

if TYPE_CHECKING:
    from cmtflow.data.credentials import Credentials

log = logging.getLogger(__name__)

T = TypeVar("T")

#: Routing services (ObsPy's RoutingClient names); every other name is an FDSN provider.
ROUTERS = ("eida-routing", "iris-federator", "earthscope-federator")


class ServiceError(CmtflowError):
    """A data centre could not be reached or kept failing."""

    retriable = True


class NoDataError(CmtflowError):
    """The service answered, with no data for the request."""


@dataclass(frozen=True)
class ServiceConfig:
    """Where to ask and how patiently.

    :param provider: an ObsPy FDSN provider name (``EMSC``, ``INGV``, ``USGS``, ``GFZ``...),
        a routing service (``eida-routing``) or a base URL (``http://host:port``).
    :param service_urls: per-service URLs overriding the provider's, e.g.
        ``{"dataselect": "http://127.0.0.1:8080/fdsnws/dataselect/1"}``.
    :param timeout: seconds per HTTP request.
    :param retries: further attempts after a timeout or a server error.
    :param backoff: seconds before the first retry; doubled at each further one.
    :param discover: ask the service for its WADL documents first (ObsPy's service
        discovery). Off for a base URL: a local or custom server often has no WADL.
    :param credentials: for restricted data (:mod:`cmtflow.data.credentials`).
    """

    provider: str = "eida-routing"
    service_urls: dict = field(default_factory=dict)
    timeout: float = 60.0
    retries: int = 3
    backoff: float = 2.0
    discover: bool | None = None
    credentials: "Credentials | None" = field(default=None, repr=False)

    @property
    def label(self) -> str:
        return self.provider

    @classmethod
    def from_env(cls, provider: str, **kwargs) -> "ServiceConfig":
        """A config for ``provider`` with the deployment's patience: ``CMTFLOW_FDSN_TIMEOUT_S``,
        ``CMTFLOW_FDSN_RETRIES`` and ``CMTFLOW_FDSN_BACKOFF_S`` (:mod:`cmtflow.config`)."""
        from cmtflow.config import settings

        return cls(provider=provider, timeout=settings.fdsn_timeout_s, retries=settings.fdsn_retries,
                   backoff=settings.fdsn_backoff_s, **kwargs)


def make_client(config: ServiceConfig):
    """The ObsPy client for ``config`` (an FDSN ``Client`` or a ``RoutingClient``)."""
    from obspy.clients.fdsn import Client, RoutingClient

    auth = config.credentials.client_kwargs() if config.credentials else {}
    if config.provider.lower() in ROUTERS:
        if auth and not auth.get("eida_token"):
            raise ServiceError(f"a login and password are for one data centre, not the routing service "
                               f"{config.provider}: set dataselect_service to that data centre")
        routed = {"credentials": {"EIDA_TOKEN": auth["eida_token"]}} if auth else {}
        return RoutingClient(config.provider.lower(), timeout=config.timeout, **routed)
    discover = config.discover if config.discover is not None else "://" not in config.provider
    try:
        return call_with_retries(
            lambda: Client(config.provider, timeout=config.timeout, service_mappings=config.service_urls or None,
                           _discover_services=discover, **auth),
            f"FDSN services of {config.provider}", config)
    except ValueError as exc:  # unknown provider name, malformed URL
        raise ServiceError(f"unknown FDSN provider or URL {config.provider!r}: {exc}") from None


def _is_no_data(exc: Exception) -> bool:
    from obspy.clients.fdsn.header import FDSNNoDataException

    return isinstance(exc, FDSNNoDataException) or "No data available" in str(exc)


def _is_transient(exc: Exception) -> bool:
    """Timeouts, refused/reset connections and HTTP 5xx: worth another try."""
    from obspy.clients.fdsn.header import (FDSNException, FDSNInternalServerException,
                                           FDSNServiceUnavailableException, FDSNTimeoutException)

    if isinstance(exc, (FDSNTimeoutException, FDSNInternalServerException, FDSNServiceUnavailableException,
                        TimeoutError, socket.timeout, ConnectionError, http.client.IncompleteRead,
                        http.client.RemoteDisconnected)):
        return True
    text = str(exc)
    if isinstance(exc, FDSNException):
        return any(code in text for code in ("500", "502", "503", "504", "Timed Out", "timed out",
                                             "Connection refused", "Connection reset", "No FDSN services",
                                             # a connection dropped before or during the answer
                                             "RemoteDisconnected", "IncompleteRead", "Connection aborted"))
    return False


def call_with_retries(call: Callable[[], T], what: str, config: ServiceConfig,
                      sleep: Callable[[float], None] = time.sleep) -> T:
    """``call()``, retried on transient failures (see module docstring).

    :param what: the service and request, for messages (``"station service of EMSC"``).
    :raises NoDataError: the service has no data for the request.
    :raises ServiceError: still failing after ``config.retries`` retries, or a
        non-transient failure; the message names ``what`` and the last error.
    """
    delay = config.backoff
    for attempt in range(config.retries + 1):
        try:
            return call()
        except Exception as exc:  # ObsPy raises FDSNException subclasses, HTTP and socket errors
            if _is_no_data(exc):
                raise NoDataError(f"{what}: no data") from None
            if not _is_transient(exc):
                raise ServiceError(f"{what} failed: {_one_line(exc)}") from None
            if attempt == config.retries:
                raise ServiceError(f"{what} failed after {config.retries + 1} attempts: {_one_line(exc)}") from None
            log.warning("%s: %s; retrying in %.1f s (attempt %d of %d)", what, _one_line(exc), delay,
                        attempt + 2, config.retries + 1)
            sleep(delay)
            delay *= 2
    raise AssertionError("unreachable")


def _one_line(exc: Exception) -> str:
    text = " ".join(str(exc).split())
    return text[:300] or type(exc).__name__
