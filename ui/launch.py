"""``agentledger ui``: run the dashboard on the configured warehouse (Streamlit, in this process)."""

from __future__ import annotations

import gc
import os
from pathlib import Path
from typing import Annotated

import typer

from agentledger.core.errors import ConfigError
from agentledger.core.security import redact_url
from agentledger.core.settings import Settings
from agentledger.ui.auth import check_exposure

APP_SCRIPT = Path(__file__).with_name("app.py")


def streamlit_flags(host: str, port: int) -> dict[str, object]:
    """Streamlit server options: bound where asked, headless, no usage statistics, no dev-mode reloader."""
    return {
        "server.address": host,
        "server.port": port,
        "server.headless": True,
        "browser.gatherUsageStats": False,
        "global.developmentMode": False,
        "server.fileWatcherType": "none",
        "client.toolbarMode": "viewer",
    }


def run_dashboard(host: str, port: int) -> None:
    """Serve ``ui/app.py`` until interrupted (blocks). The pages read ``Settings()`` for the warehouse."""
    from streamlit.web import bootstrap

    flags = streamlit_flags(host, port)
    bootstrap.load_config_options(flag_options=flags)
    try:
        bootstrap.run(str(APP_SCRIPT), False, [], flags)
    finally:
        # Release the pages' cached connections and frames now, while the interpreter is whole: left to its
        # shutdown, DuckDB's bindings report them as leaked.
        import streamlit as st

        st.cache_resource.clear()
        st.cache_data.clear()
        gc.collect()


def ui(
    host: Annotated[
        str | None, typer.Option(help="Bind address (default 127.0.0.1, AGENTLEDGER_UI_HOST)")
    ] = None,
    port: Annotated[int | None, typer.Option(help="Port (default 8501, AGENTLEDGER_UI_PORT)")] = None,
    warehouse: Annotated[
        str | None, typer.Option("--warehouse", "-w", help="Warehouse URL (default: AGENTLEDGER_WAREHOUSE)")
    ] = None,
) -> None:
    """Run the dashboard on the configured warehouse (a DuckDB file must not be held by another process)."""
    if warehouse:
        # The pages run in Streamlit's script threads and read Settings(); the environment is how they see it.
        os.environ["AGENTLEDGER_WAREHOUSE"] = warehouse
    settings = Settings()
    bind = host or settings.ui_host
    try:
        check_exposure(bind, settings)
    except ConfigError as exc:
        typer.echo(f"Error: {exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo(
        f"agentledger dashboard on http://{host or settings.ui_host}:{port or settings.ui_port} "
        f"(warehouse {redact_url(settings.warehouse)})",
        err=True,
    )
    run_dashboard(host or settings.ui_host, port or settings.ui_port)


def main() -> None:
    """Run ``ui`` as a command of its own (``python -m agentledger.ui.launch``)."""
    typer.run(ui)


if __name__ == "__main__":
    main()
