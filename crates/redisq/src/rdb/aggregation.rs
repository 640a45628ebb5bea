//! Group aggregation: checks, sets, reclaim (spec §5.3).
