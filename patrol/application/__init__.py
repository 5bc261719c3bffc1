"""The application core: one patrol as named stages (``core.Patrol``: run the journeys,
judge them with confirmation reruns, write the reports, record the run, send what can
be sent, refresh the index), the one path for ``patrol run``, every scheduler firing run
here and every fleet task; ``startup`` what ``patrol run`` opens before it; ``judge``
how long a confirmation waits."""
