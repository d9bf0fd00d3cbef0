"""Fault drills: a steady stream of alerts, one fault at a time, figures printed."""
