"""The web driver: Playwright on Chromium (``playwright.py``) and what only it uses (a
remote browser server, strict locators, the trace, Web Vitals, the web's journey keys).

Import-light on purpose: nothing here is loaded until a module is named, so registering
``web_keys`` never loads Playwright."""
