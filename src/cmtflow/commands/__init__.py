"""The user commands that run without Airflow (``cmtflow fetch``, ``cmtflow invert``), each
module with its parser and its body; :mod:`cmtflow.cli` registers them."""
