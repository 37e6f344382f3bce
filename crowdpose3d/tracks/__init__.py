"""The tracks dataset: its schema, reading it back, crowd-motion analysis and plots."""
