"""Background work: RQ job functions, the scheduler, and the webhook receiver."""
