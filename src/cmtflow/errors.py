"""Exceptions with one-line messages meant for the user.

Every input problem cmtflow can recognise raises a subclass of :class:`CmtflowError`;
the CLI prints ``error: <message>`` and exits with status 2, so a message must name the
offending file/field and say what is wrong with it.
"""


class CmtflowError(Exception):
    """Base class for errors caused by user input or configuration.

    ``retriable``: whether trying again later can succeed (a data centre or database that is
    down, data not yet at the data centre, a crashed solver). The DAG fails a task at once,
    without its retries, on an error that is not (a bad conf, a malformed file).
    """

    retriable = False


class ModelError(CmtflowError):
    """An Earth model is unknown, malformed or physically invalid."""


class SourceError(CmtflowError):
    """A source description (CMTSOLUTION, QuakeML, parameters) is malformed or invalid."""


class StationError(CmtflowError):
    """A station file is malformed or has no usable station."""


class SolverError(CmtflowError):
    """Solver parameters are invalid (distances, sampling, source position)."""


class NoSolutionError(CmtflowError):
    """The data cannot determine a source: too few usable stations or windows once screened.
    A run ends as "no solution" with this reason, which is an answer about the data, not a
    failure that a retry mends."""


class RunStopped(CmtflowError):
    """A run stopped by a signal (``signum``: SIGTERM, SIGINT) and marked failed."""

    def __init__(self, message: str, signum: int):
        super().__init__(message)
        self.signum = signum
