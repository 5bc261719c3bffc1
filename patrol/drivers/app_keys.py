"""Journey keys for app journeys (``target: app``). Filled in by the Appium driver work."""
