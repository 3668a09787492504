"""Tools that drive both programs: make run's demo and the man pages (not installed)."""
