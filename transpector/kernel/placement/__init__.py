"""Devices and dtypes: where the live model is (``where``), moving and casting it in steps that
report progress and put it back on failure (``moves``), the session's methods (``methods``),
and CUDA memory snapshots rendered offline (``memory_html``)."""
