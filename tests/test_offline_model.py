"""The offline model answers from the conversation it is shown, as a real model would."""

from __future__ import annotations

from langchain_core.messages import AIMessage, HumanMessage, SystemMessage

from agent.model.offline import OfflineSupportModel
from agent.prompts import system_prompt


def reply(messages) -> str:
    return OfflineSupportModel().invoke(messages).text


def test_recalls_a_name_told_earlier_in_the_conversation():
    messages = [HumanMessage("Hi, my name is Odile."), AIMessage("Nice to meet you!"),
                HumanMessage("What's my name?")]
    assert reply(messages) == "Your name is Odile."


def test_the_newest_name_wins():
    messages = [HumanMessage("my name is Odile"), AIMessage("Hi"),
                HumanMessage("Actually, call me Priya"), AIMessage("Hi"),
                HumanMessage("Who am I?")]
    assert reply(messages) == "Your name is Priya."


def test_recalls_a_name_kept_only_in_a_summary():
    summary = "- The customer's name is Soren.\n- The customer asked about ORD-1002."
    messages = [SystemMessage(system_prompt({}, summary)), HumanMessage("What's my name?")]
    assert reply(messages) == "Your name is Soren."


def test_the_remembered_profile_wins_over_the_conversation():
    messages = [SystemMessage(system_prompt({"name": "Greta"}, "")),
                HumanMessage("my name is Odile"), AIMessage("Hi"), HumanMessage("What's my name?")]
    assert reply(messages) == "Your name is Greta."


def test_without_a_name_anywhere_it_says_so():
    messages = [HumanMessage("Hello"), AIMessage("Hi"), HumanMessage("What's my name?")]
    assert reply(messages) == "You haven't told me your name yet."
