"""The training loop and its parts: set-up, state, batches, schedule, clock, precision, threads, ranks, rates."""
