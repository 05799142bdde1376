"""Figures and pages of a solution."""
