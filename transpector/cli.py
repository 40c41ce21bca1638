"""The `transpector` command: `transpector lab` starts JupyterLab on loopback, ready to use."""

from __future__ import annotations

import argparse
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from transpector.errors import TranspectorError
from transpector.sae_cli import add_train_sae_arguments, run_train_sae

READY_TIMEOUT_S = 120
# Lab settings for this launch only (labconfig/page_config.json: no news consent popup).
LAB_CONFIG = Path(__file__).resolve().parent / "lab_config"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="transpector", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    lab = commands.add_parser(
        "lab", help="start JupyterLab with Transpector and a starter notebook"
    )
    lab.add_argument(
        "--model", help="local model directory or hub name (default: embedded SmolLM2)"
    )
    lab.add_argument("--device", help="cpu or cuda (default: cuda when available)")
    lab.add_argument("--port", type=int, help="port on 127.0.0.1 (default: a free one)")
    lab.add_argument("--notebook-dir", type=Path, default=Path.cwd(), help="folder to serve")
    lab.add_argument("--no-browser", action="store_true", help="do not open a web browser")
    serve = commands.add_parser(
        "serve", help="serve a model over HTTP for scripts (token required)"
    )
    serve.add_argument(
        "--model", help="local model directory or hub name (default: embedded SmolLM2)"
    )
    serve.add_argument("--device", help="cpu or cuda (default: cuda when available)")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default: loopback)")
    serve.add_argument("--port", type=int, default=8765, help="port (default: 8765; 0: a free one)")
    train = commands.add_parser(
        "train-sae", help="train a sparse autoencoder on a hook's activations over a dataset"
    )
    add_train_sae_arguments(train)
    args = parser.parse_args(argv)
    commands_run = {"lab": run_lab, "serve": run_serve, "train-sae": run_train_sae}
    try:
        return commands_run[args.command](args)
    except TranspectorError as error:
        print(f"transpector: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def run_lab(args: argparse.Namespace) -> int:
    from transpector.starter import STARTER_NAME, write_starter

    folder: Path = args.notebook_dir.expanduser().resolve()
    if not folder.is_dir():
        raise TranspectorError(
            f"notebook folder {folder} does not exist; create it or pick another"
        )
    port = _free_port() if args.port is None else _check_port(args.port)
    env = dict(os.environ, JUPYTER_TOKEN=secrets.token_urlsafe(24))
    config_path = [str(LAB_CONFIG), *filter(None, [env.get("JUPYTER_CONFIG_PATH")])]
    env["JUPYTER_CONFIG_PATH"] = os.pathsep.join(config_path)
    offline = _prepare_model(args.model)
    if offline:
        env["HF_HUB_OFFLINE"] = "1"
    env.pop("TRANSPECTOR_MODEL", None)
    if args.model:
        env["TRANSPECTOR_MODEL"] = args.model
    if args.device:
        env["TRANSPECTOR_DEVICE"] = args.device
    write_starter(folder)
    command = [
        sys.executable, "-m", "jupyterlab", f"--config={_server_config()}", f"--port={port}",
        f"--ServerApp.root_dir={folder}", f"--LabApp.default_url=/lab/tree/{STARTER_NAME}",
        f"--ServerApp.open_browser={not args.no_browser}",
    ]  # fmt: skip
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        command.append("--allow-root")
    lab = subprocess.Popen(command, env=env)
    # Stopping this command stops JupyterLab (and so its kernels) too, not just Ctrl+C.
    forwarded = [s for s in (signal.SIGTERM, getattr(signal, "SIGHUP", None)) if s is not None]
    previous = {s: signal.signal(s, lambda *_: lab.terminate()) for s in forwarded}
    try:
        if _wait_listening(port, lab):
            url = f"http://127.0.0.1:{port}/lab/tree/{STARTER_NAME}?token={env['JUPYTER_TOKEN']}"
            print(f"\nTranspector is ready: {url}\n", flush=True)
        return lab.wait()
    except KeyboardInterrupt:
        lab.terminate()
        try:
            return lab.wait(30)
        except subprocess.TimeoutExpired:
            lab.kill()  # JupyterLab did not stop in time
            return lab.wait()
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


def run_serve(args: argparse.Namespace) -> int:
    if args.port:
        _check_port(args.port, args.host)
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        print(f"transpector: warning: serving on {args.host}; anyone who can reach it and has the "
              "token can run the model", file=sys.stderr)  # fmt: skip
    token = os.environ.get("TRANSPECTOR_TOKEN") or secrets.token_urlsafe(24)
    from transpector.kernel.loading import load_model
    from transpector.kernel.serving import serve_standalone
    from transpector.kernel.session import Session

    session = Session(load_model(args.model, device=args.device))
    serve_standalone(session, args.host, args.port, token)
    return 0


def _prepare_model(model: str | None) -> bool:
    """Build the default model's cache now, with progress here; True when the lab runs offline."""
    if not model:
        from transpector.kernel.default_model import default_model_dir

        default_model_dir()
        return True
    path = Path(model).expanduser()
    if model.startswith((".", "/", "~")) and not path.exists():
        raise TranspectorError(f"no model directory at {path}; check --model")
    return path.exists()


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _check_port(port: int, host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((host, port))
        except OSError:
            raise TranspectorError(
                f"port {port} is already in use; pick another with --port, or leave --port out "
                "for a free one"
            ) from None
    return port


def _wait_listening(port: int, lab: subprocess.Popen[bytes]) -> bool:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline and lab.poll() is None:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return True
        except OSError:
            time.sleep(0.2)
    return False


def _server_config() -> Path:
    """jupyter_server_config.py: inside the installed package, or at the root of a checkout."""
    package = Path(__file__).resolve().parent
    for candidate in (
        package / "jupyter_server_config.py",
        package.parent / "jupyter_server_config.py",
    ):
        if candidate.is_file():
            return candidate
    raise TranspectorError("jupyter_server_config.py is missing from the installation; reinstall")


if __name__ == "__main__":
    sys.exit(main())
