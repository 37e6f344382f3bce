"""The streaming pipeline: the `Frame` record, the stage protocol and registry, the YAML
config schema, the run plan and the threaded runner (see docs/architecture.md and
docs/pipeline.md)."""
