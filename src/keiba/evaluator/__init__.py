"""Settlement rules, metrics against the market, the main job and its report."""
