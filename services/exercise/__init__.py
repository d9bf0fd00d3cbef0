"""Exercise planners' tools: scenarios, runs, reports."""
