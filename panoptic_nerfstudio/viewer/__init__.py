"""The model's elements in nerfstudio's web viewer: display options and click-to-identify."""
