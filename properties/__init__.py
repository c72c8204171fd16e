"""Named invariants, Hypothesis state machines, the exhaustive explorer and the mutant catalogue."""
