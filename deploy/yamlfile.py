"""How the generated YAML files are written: key order kept, block style, no anchors, multi-line strings
(kustomize's inline patches) as literal blocks, and a header comment saying where the file comes from."""

from __future__ import annotations

import yaml


class _Dumper(yaml.SafeDumper):
    """Block style, no anchors, multi-line strings (inline patches) as literal blocks."""

    def ignore_aliases(self, data):
        return True


def _literal_strings(dumper: yaml.SafeDumper, value: str):
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _literal_strings)


def dump(data, header: str = "") -> str:
    """YAML as the generated files are written (key order kept)."""
    body = yaml.dump(data, Dumper=_Dumper, sort_keys=False, default_flow_style=False, width=120)
    return header + body


def dump_all(documents: list, header: str = "") -> str:
    return header + yaml.dump_all(documents, Dumper=_Dumper, sort_keys=False, default_flow_style=False, width=120)
