"""Scenario inputs shipped with cmtflow: a real station layout and a published solution."""
