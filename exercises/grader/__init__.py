"""The grader: runs each check of each task in its own process and reports what happened."""
