"""Pipeline stages, one module each, registered by name in `crowdpose3d.pipeline.stage`."""
