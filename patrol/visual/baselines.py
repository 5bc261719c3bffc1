"""Approved baselines: ``baselines/<journey>/<name>.<device>.png`` plus a small text
manifest per journey (``manifest.json``) recording the environment each baseline
was taken in (browser version, viewport, device scale factor), so a baseline from
another browser or scale is reported as an environment mismatch, not a visual diff.
"""

from __future__ import annotations

import json
import os
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from ..core.jsontypes import JsonObject, as_object

MANIFEST = "manifest.json"
_lock = threading.Lock()
_SAFE = re.compile(r"[^a-z0-9_.-]+")


def safe_name(name: str) -> str:
    return _SAFE.sub("-", name.lower()).strip("-") or "baseline"


@dataclass(frozen=True)
class Environment:
    browser: str
    viewport: tuple[int, int]
    scale: float

    def to_dict(self) -> JsonObject:
        return {"browser": self.browser, "viewport": list(self.viewport), "scale": self.scale}

    @classmethod
    def from_dict(cls, d: Mapping[str, object]) -> Environment:
        """As ``to_dict`` wrote it (a manifest entry, a report's ``environment``)."""
        vp, scale = d.get("viewport"), d.get("scale", 1)
        viewport = (int(vp[0]), int(vp[1])) if isinstance(vp, (list, tuple)) and len(vp) == 2 else (0, 0)
        return cls(str(d.get("browser", "")), viewport, float(scale) if isinstance(scale, (int, float, str)) else 1.0)

    def mismatch(self, other: Environment) -> list[str]:
        """What differs in a way that changes pixels (browser *major* version, size, scale)."""
        out = []
        if _major(self.browser) != _major(other.browser):
            out.append(f"browser {other.browser} (baseline taken with {self.browser})")
        if tuple(self.viewport) != tuple(other.viewport):
            out.append(f"viewport {other.viewport[0]}x{other.viewport[1]} (baseline {self.viewport[0]}x{self.viewport[1]})")
        if abs(self.scale - other.scale) > 1e-6:
            out.append(f"device scale factor {other.scale} (baseline {self.scale})")
        return out


def _major(version: str) -> str:
    m = re.search(r"(\d+)\.", version or "")
    return m.group(1) if m else version


class BaselineStore:
    def __init__(self, root: Path):
        self.root = Path(root)

    def path(self, journey: str, name: str, device: str) -> Path:
        return self.root / safe_name(journey) / f"{safe_name(name)}.{safe_name(device)}.png"

    def _manifest_path(self, journey: str) -> Path:
        return self.root / safe_name(journey) / MANIFEST

    def _read_manifest(self, journey: str) -> dict[str, object]:
        try:
            data = json.loads(self._manifest_path(journey).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return as_object(data)

    def load(self, journey: str, name: str, device: str) -> tuple[bytes, Environment | None] | None:
        p = self.path(journey, name, device)
        try:
            data = p.read_bytes()
        except OSError:
            return None
        entry = self._read_manifest(journey).get(p.name)
        return data, (Environment.from_dict(entry) if isinstance(entry, dict) and entry else None)

    def layout_path(self, journey: str, name: str, device: str) -> Path:
        """The screen's layout (``core.layout.ScreenLayout`` as JSON) beside its picture."""
        return self.path(journey, name, device).with_suffix(".layout.json")

    def load_layout(self, journey: str, name: str, device: str) -> str | None:
        """The stored layout's JSON, or None (a baseline approved without one, or an app screen)."""
        try:
            return self.layout_path(journey, name, device).read_text(encoding="utf-8")
        except OSError:
            return None

    def save(self, journey: str, name: str, device: str, png: bytes, env: Environment,
             layout_json: str | None = None) -> Path:
        """Store the picture (and the layout captured with it; without one, an older
        layout is removed: it would describe another screen)."""
        p = self.path(journey, name, device)
        lp = self.layout_path(journey, name, device)
        with _lock:
            p.parent.mkdir(parents=True, exist_ok=True)
            tmp = p.with_suffix(".png.part")
            tmp.write_bytes(png)
            os.replace(tmp, p)
            if layout_json is None:
                lp.unlink(missing_ok=True)
            else:
                ltmp = lp.with_suffix(".json.part")
                ltmp.write_text(layout_json, encoding="utf-8")
                os.replace(ltmp, lp)
            manifest = self._read_manifest(journey)
            manifest[p.name] = env.to_dict()
            mp = self._manifest_path(journey)
            mtmp = mp.with_suffix(".json.part")
            mtmp.write_text(json.dumps(dict(sorted(manifest.items())), indent=2) + "\n", encoding="utf-8")
            os.replace(mtmp, mp)
        return p

    def remove(self, journey: str, name: str, device: str) -> None:
        """Forget a baseline (undoing the approval of a screen that had none): the next run stores it as new."""
        p = self.path(journey, name, device)
        with _lock:
            p.unlink(missing_ok=True)
            self.layout_path(journey, name, device).unlink(missing_ok=True)
            manifest = self._read_manifest(journey)
            if manifest.pop(p.name, None) is not None:
                mp = self._manifest_path(journey)
                mtmp = mp.with_suffix(".json.part")
                mtmp.write_text(json.dumps(dict(sorted(manifest.items())), indent=2) + "\n", encoding="utf-8")
                os.replace(mtmp, mp)
