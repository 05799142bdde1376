"""Airflow glue: the DAG builders, compute backends and the embedded Airflow home.

Only glue lives here; the science is in the plain modules the tasks call
(:mod:`cmtflow.stages`).
"""
