"""``patrol record``: a person uses the app in a headed Chromium and the recorder
writes what they did as a journey. ``page_script`` (in the page: events and locator
candidates) -> ``locators`` (which candidate to keep) -> ``steps`` (events into steps)
-> ``writer`` (YAML, atomically); ``session`` runs the browser, ``display`` finds or
makes a display for it."""
