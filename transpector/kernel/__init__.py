"""Everything that runs inside the kernel beside the live model (torch lives here only)."""
