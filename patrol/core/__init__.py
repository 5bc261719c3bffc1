"""The bottom layer: shared vocabulary every other package may import, and that
imports nothing of Patrol's (and nothing heavy: no NumPy, OpenCV, Playwright)."""
