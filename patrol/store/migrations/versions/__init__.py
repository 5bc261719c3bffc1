"""One module per schema version; Patrol applies them in order on open."""
