"""Fixtures of the Appium tests: a real local Appium 3 server (one per test session),
the fake driver's XML app, and helpers to run Patrol against them."""
