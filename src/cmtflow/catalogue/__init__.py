"""The catalogue: an SQL record of events, runs, simulations and solutions, and their links.

It answers "which simulations exist for this earthquake / model / source?" and drives the
reuse of simulations between runs: a simulation is claimed by its content key before it
is computed, so two runs planning the same simulation compute it once, and a computation
that crashed leaves a claim that expires rather than an entry that looks complete.

SQLite in the data root by default (``<root>/catalogue.sqlite``); any SQLAlchemy URL, e.g.
PostgreSQL (``postgresql+psycopg2://...``), through ``CMTFLOW_CATALOGUE_URL``. The schema is
versioned (:mod:`cmtflow.catalogue.schema`) and migrated on connection.
"""

from cmtflow.catalogue.store import Catalogue, catalogue_url, open_catalogue

__all__ = ["Catalogue", "catalogue_url", "open_catalogue"]
