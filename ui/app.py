"""Streamlit entry point: `streamlit run ui/app.py` (or `support-agent ui`).

Sign-in gate (local or OIDC, as SUPPORT_AUTH says; local sign-in on a shared database is
refused unless explicitly allowed), then one navigation per role: customers chat; supervisors
decide approvals, write in conversations (handoffs) and read the audit trail; both browse
history. A status area in the sidebar shows what this instance runs on.
"""

from __future__ import annotations

import streamlit as st

from agent.errors import SupportError
from ui.components.status import (
    local_sign_in_banner,
    local_sign_in_refused,
    oidc_not_configured,
    status_area,
)
from ui.session import app_settings, desk, oidc_configured, sign_out, signed_in_user

st.set_page_config(page_title="Support agent", page_icon=":material/support_agent:",
                   layout="wide")

try:
    settings = app_settings()
    # Checked before the database is opened: a shared one is not touched in local mode.
    if settings.local_sign_in_refused:
        local_sign_in_refused(settings.describe()["database"])
        st.stop()
    if settings.auth == "oidc" and not oidc_configured():
        oidc_not_configured(shared_database=settings.shared_database)
        st.stop()
    support_desk = desk()
except SupportError as exc:
    st.title("Support agent")
    st.error(f"The support desk cannot start: {exc}", icon=":material/error:")
    st.button("Try again", icon=":material/refresh:")
    st.stop()
local_mode = settings.auth == "local"

try:
    user = signed_in_user()
except SupportError as exc:
    # E.g. signed in at the identity provider with an e-mail that has no account here.
    st.error(str(exc), icon=":material/error:")
    again, leave = st.columns([1, 4])
    again.button("Try again", icon=":material/refresh:")
    leave.button("Sign out", icon=":material/logout:", on_click=sign_out)
    st.stop()

sign_in = st.Page("views/sign_in.py", title="Sign in", icon=":material/login:")
chat = st.Page("views/chat.py", title="Chat", icon=":material/chat:", default=True)
approvals = st.Page("views/approvals.py", title="Approvals", icon=":material/approval:",
                    default=True)
conversations = st.Page("views/conversations.py", title="Conversations",
                        icon=":material/forum:")
audit = st.Page("views/audit.py", title="Audit", icon=":material/fact_check:")
insights = st.Page("views/insights.py", title="Insights", icon=":material/insights:")
history = st.Page("views/history.py", title="History", icon=":material/history:")

if user is None:
    pages = [sign_in]
elif user.is_supervisor:
    pages = [approvals, conversations, audit, insights, history]
else:
    pages = [chat, history]

navigation = st.navigation(pages)
with st.sidebar:
    status_area(support_desk.describe(), user, local_mode=local_mode, on_sign_out=sign_out)
if local_mode and settings.shared_database:  # allowed explicitly, or it would have stopped
    local_sign_in_banner()
navigation.run()
