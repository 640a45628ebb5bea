//! Reads and operator actions for the Inspector (spec §5.5).
