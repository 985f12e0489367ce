"""One module per pane: jobs, DLQ, workers, config."""
