"""Applications built on qiml's engine and models: telecom (antenna tilt, ...)."""
