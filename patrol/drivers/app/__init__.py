"""The app driver: Appium (``appium.py``), one session over a native or browser strategy,
the app's watcher, and the in-process capture proxy that feeds the shared network and
WebSocket recorders (``drivers/_network.py``, ``drivers/_websocket.py``).

Import-light on purpose: nothing here is loaded until a module is named, so registering
``app_keys`` never loads Appium or Selenium."""
