"""``junit.xml``: one testsuite per journey, one testcase per step, for CI dashboards."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from ..results import FAILED, INTERRUPTED, SKIPPED, RunResult
from .json_report import write_text_atomic


def write(run: RunResult, run_dir: Path) -> None:
    suites = ET.Element("testsuites", name=f"patrol {run.run_id}")
    for j in run.journeys:
        failures = sum(1 for s in j.steps if s.status == FAILED)
        skipped = sum(1 for s in j.steps if s.status in (SKIPPED, INTERRUPTED))
        suite = ET.SubElement(
            suites, "testsuite", name=j.name, tests=str(len(j.steps)), failures=str(failures),
            skipped=str(skipped), errors="1" if j.robot_error else "0", time=f"{(j.duration_ms or 0) / 1000:.3f}",
        )
        if j.robot_error:
            case = ET.SubElement(suite, "testcase", classname=j.name, name="(robot)")
            ET.SubElement(case, "error", message=str(j.robot_error["message"]), type=str(j.robot_error["reason"]))
        for s in j.steps:
            case = ET.SubElement(
                suite, "testcase", classname=j.name, name=f"{s.index:02d} {s.name or s.action}",
                time=f"{(s.duration_ms or 0) / 1000:.3f}",
            )
            if s.status == SKIPPED:
                why = "the run was stopped first" if j.status == INTERRUPTED else "an earlier step broke the flow"
                ET.SubElement(case, "skipped", message=why)
            elif s.status == INTERRUPTED:
                ET.SubElement(case, "skipped", message="cut short: the run was stopped while this step ran")
            for f in s.findings:
                el = ET.SubElement(case, "failure", message=f.message, type=f"{f.kind}/{f.reason}")
                el.text = f"{f.kind} ({f.reason}): {f.message}\nscreenshot: {s.screenshot}"
    ET.indent(suites)
    text = ET.tostring(suites, encoding="unicode", xml_declaration=True)
    write_text_atomic(run_dir / "junit.xml", text)
