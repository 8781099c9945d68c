"""Graph nodes, one module per family."""

NODE_NAMES: tuple[str, ...] = ("load_memory", "prune", "summarize", "agent", "tools", "screen",
                               "approval", "actions", "remember", "person", "withdraw")
