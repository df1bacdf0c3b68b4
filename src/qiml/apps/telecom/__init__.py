"""Telecom applications: :mod:`.antenna_tilt` (downlink SINR regression for tilt tuning)."""
