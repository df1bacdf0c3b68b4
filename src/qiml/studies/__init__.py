"""Reports: equal-budget comparisons against baselines, tables and plots (top layer)."""
