"""Small shared helpers: colors of predictions and progress bars."""
