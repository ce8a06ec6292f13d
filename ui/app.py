"""The agentledger dashboard (Streamlit): `agentledger ui`, or started by `agentledger up`.

This entry script sets up the pages, opens the warehouse, draws the global filters and runs the chosen page.
Pages read the chosen view with ``state.current_view()`` and the data through ``state.fetch`` (analytics/).
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st
from PIL import Image, ImageDraw

from agentledger.core.errors import AgentLedgerError
from agentledger.core.security import redact_url
from agentledger.ui import auth, sidebar, state

# Not "pages/": Streamlit takes a pages/ folder beside the entry script for its legacy multipage layout.
VIEWS = Path(__file__).with_name("views")


@st.cache_resource(show_spinner=False)
def _icon() -> Image.Image:
    """The favicon, drawn here: three rising bars. A page icon from the Material set would make the browser
    fetch it from fonts.gstatic.com, which fails offline and behind strict firewalls."""
    img = Image.new("RGBA", (64, 64), (0, 0, 0, 0))
    draw = ImageDraw.Draw(img)
    draw.rounded_rectangle((2, 2, 62, 62), radius=14, fill=(51, 34, 136, 255))
    for i, height in enumerate((18, 30, 42)):
        draw.rectangle((14 + i * 14, 52 - height, 23 + i * 14, 52), fill=(136, 204, 238, 255))
    return img


st.set_page_config(page_title="agentledger", page_icon=_icon(), layout="wide")
# Sign-in first: nothing below (not even the warehouse's name) is shown to a visitor who is not signed in.
auth.gate(state.settings())


def _page(name: str, title: str, icon: str, **kwargs: object) -> st.Page:
    return st.Page(VIEWS / f"{name}.py", title=title, icon=icon, url_path=name, **kwargs)


SOURCES = _page("sources", "Sources and prices", ":material/database:")
# The Overview is served at the root URL; Streamlit ignores a default page's own path, so `/overview` (the
# links of alert notifications and of the weekly report) needs a page of its own: it opens the Overview with
# the same view. The default page keeps a path nobody links to, as two pages cannot share one.
OVERVIEW = st.Page(
    VIEWS / "overview.py", title="Overview", icon=":material/dashboard:", url_path="home", default=True
)


def _overview_link() -> None:
    st.switch_page(OVERVIEW, query_params=st.query_params.to_dict())


OVERVIEW_LINK = st.Page(_overview_link, title="Overview", url_path="overview", visibility="hidden")
navigation = st.navigation(
    {
        "Spend": [
            OVERVIEW,
            _page("breakdown", "Breakdown", ":material/bar_chart:"),
            _page("sessions", "Sessions and traces", ":material/timeline:"),
            _page("waste", "Waste", ":material/delete_sweep:"),
        ],
        "Act": [
            _page("recommendations", "Recommendations", ":material/lightbulb:"),
            _page("alerts", "Alerts and reports", ":material/notifications:"),
        ],
        "Data": [SOURCES, OVERVIEW_LINK],
    }
)

try:
    extent = state.fetch("sources", "data_extent", state.settings().project_id)
except AgentLedgerError as exc:
    st.error(
        f"Cannot read the warehouse `{redact_url(state.settings().warehouse)}`: {exc}\n\n"
        "Set `AGENTLEDGER_WAREHOUSE` to the ledger's URL. A DuckDB file has one writer process: "
        "if `agentledger serve` holds it, run `agentledger up` instead, which serves the API and this dashboard "
        "in one process."
    )
    st.stop()

view = sidebar.render(extent)
state.set_view(view)

if extent.empty and navigation.url_path != SOURCES.url_path:
    st.title(navigation.title)
    st.markdown(state.get_data_in())
    st.stop()

navigation.run()
