"""Outputs a person takes home: re-timed renders, side-by-side videos, plots, JSON, an editor
timeline (OpenTimelineIO) and a browser viewer."""
