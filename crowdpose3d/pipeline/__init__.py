"""The streaming pipeline: the `Frame` record, the stage protocol and registry, the YAML
config schema and the threaded runner (see DESIGN.md, "Stages and the declarative
pipeline")."""
