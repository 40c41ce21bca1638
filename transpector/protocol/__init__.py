"""The pydantic wire contract shared by the kernel app, the server and the browser (no torch)."""
