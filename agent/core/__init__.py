"""The small core every layer may import: no database driver, no LangGraph server, no UI.

`db` is the database interface the domain is written against, `approval` the contract between
a supervisor and the graph, `memory` where a customer's long-term memory lives in the store.
"""
