"""Visual comparison of screenshots against approved baselines."""
