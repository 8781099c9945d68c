"""Small render functions: they take data and draw it, and hold no business logic."""
