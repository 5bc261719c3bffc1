"""The Patrol console (``patrol serve``): server-rendered pages and a JSON API over
the state database and the run folders, for QA approving baselines and on-call
acknowledging incidents. Starlette, Jinja2, a little JavaScript from ``static/``;
nothing is open without signing in."""
