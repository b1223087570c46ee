"""Training UWE: multi-graph batches, the LightningModule, callbacks and the run driver."""
