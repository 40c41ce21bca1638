"""Jupyter server settings used by `transpector lab`: loopback only, a token, no terminals.

`transpector lab` passes this file with --config and adds the token, port and folder itself.
"""

c = get_config()  # type: ignore[name-defined]  # noqa: F821

c.ServerApp.ip = "127.0.0.1"
c.ServerApp.allow_remote_access = False
c.ServerApp.terminals_enabled = False
c.ServerApp.disable_check_xsrf = False
c.ServerApp.port_retries = 0
c.ServerApp.open_browser = False
c.LabApp.news_url = None
c.LabApp.check_for_updates_class = "jupyterlab.NeverCheckForUpdate"
