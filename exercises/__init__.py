"""The graded course unit on agent state: tasks, starters, reference solutions and the grader."""
