"""Sign-in for the dashboard: a password (``AGENTLEDGER_UI_PASSWORD``) or Streamlit's OIDC (``st.login``).

On 127.0.0.1 the dashboard is open unless one of them is configured. Bound beyond loopback, `agentledger
ui`/`up` refuse to start without one (:func:`check_exposure`).

OIDC is Streamlit's own: an ``[auth]`` table in ``.streamlit/secrets.toml`` (``redirect_uri``,
``cookie_secret``, ``client_id``, ``client_secret``, ``server_metadata_url``, or one ``[auth.<provider>]``
table per provider); when it is there the dashboard asks for ``st.login()`` and the password is not used.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from agentledger.core.errors import ConfigError
from agentledger.core.security import is_loopback, password_matches
from agentledger.core.settings import Settings

_SIGNED_IN = "agentledger_signed_in"


def _secrets_files() -> list[Path]:
    """Where Streamlit reads ``secrets.toml`` (its ``secrets.files`` option)."""
    from streamlit import config

    return [Path(p).expanduser() for p in config.get_option("secrets.files")]


def oidc_configured(files: Iterable[Path] | None = None) -> bool:
    """Whether a Streamlit secrets file has a usable ``[auth]`` table (``redirect_uri`` and ``cookie_secret``)."""
    for path in _secrets_files() if files is None else files:
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            continue
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"{path}: cannot read Streamlit's secrets file: {exc}") from None
        auth = data.get("auth")
        if isinstance(auth, dict) and auth.get("redirect_uri") and auth.get("cookie_secret"):
            return True
    return False


def check_exposure(host: str, settings: Settings, files: Iterable[Path] | None = None) -> None:
    """Refuse to serve the dashboard beyond loopback without a password or OIDC (a ConfigError saying how)."""
    if is_loopback(host) or settings.ui_password is not None or oidc_configured(files):
        return
    raise ConfigError(
        f"the dashboard would listen on {host}, beyond this machine, without sign-in: set "
        "AGENTLEDGER_UI_PASSWORD, or configure Streamlit's OIDC login (an auth section in .streamlit/secrets.toml), "
        "or bind it to 127.0.0.1 (AGENTLEDGER_UI_HOST / --host)"
    )


def gate(settings: Settings) -> None:
    """Stop the page unless the visitor is signed in (OIDC first, then the password); no-op when neither is set."""
    import streamlit as st

    if _streamlit_oidc(st):
        if not st.user.is_logged_in:
            st.title("agentledger")
            st.button("Log in", on_click=st.login, type="primary")
            st.stop()
        st.sidebar.button("Log out", on_click=st.logout)
        return
    if settings.ui_password is None or st.session_state.get(_SIGNED_IN):
        return
    _password_form(st, settings)
    st.stop()


def _streamlit_oidc(st: Any) -> bool:
    if not st.secrets.load_if_toml_exists():
        return False
    auth = st.secrets.get("auth")
    return bool(auth and auth.get("redirect_uri") and auth.get("cookie_secret"))


def _password_form(st: Any, settings: Settings) -> None:
    assert settings.ui_password is not None
    st.title("agentledger")
    with st.form("sign_in"):
        typed = st.text_input("Password", type="password", key="agentledger_password")
        submitted = st.form_submit_button("Sign in", type="primary")
    if not submitted:
        return
    if password_matches(typed or "", settings.ui_password):
        st.session_state[_SIGNED_IN] = True
        st.session_state.pop("agentledger_password", None)  # the typed password does not stay in the session
        st.rerun()
    st.error("Wrong password.")
