"""A benchmark report: its settings and its rows, written after every row so that a killed run
loses at most the row it was computing, and resumed when the settings match."""
import json
import os
import platform

from ..checkpoint import save_json
from ..errors import MaskGITError


class Report:
    def __init__(self, path, settings, fresh=False):
        self.path, self.data = path, {"settings": settings}
        old = self._read() if path and not fresh else None
        if old is not None:
            if old.get("settings") != settings:
                raise MaskGITError(f"{path} was made with other settings or weights; give --fresh to start "
                                   f"over (differs in: {', '.join(self._differences(old.get('settings', {}), settings))})")
            self.data = old

    def _read(self):
        if not os.path.exists(self.path):
            return None
        try:
            with open(self.path) as f:
                return json.load(f)
        except (OSError, json.JSONDecodeError) as e:
            raise MaskGITError(f"{self.path} is not a readable report ({e}); give --fresh") from None

    @staticmethod
    def _differences(old, new):
        return sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))

    def has(self, table, row):
        return row in self.data.get(table, {})

    def add(self, table, row, value):
        self.data.setdefault(table, {})[row] = value
        self.save()

    def save(self):
        if self.path:
            save_json(self.data, self.path)


def cpu_name():
    """The CPU's model name where the system says it (Linux), else its architecture."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_name():
    """What the numbers were measured on: CPU, cores, torch."""
    import torch
    return f"{cpu_name()}, {os.cpu_count()} cores, torch {torch.__version__}"
