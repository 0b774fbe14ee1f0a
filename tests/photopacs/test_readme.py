"""The README keeps its promises: two set-up commands, every setting documented."""

from __future__ import annotations

import importlib
import pkgutil
import re

from pydantic_settings import BaseSettings

from tests.support import REPO

README = (REPO / "README.md").read_text()


def _settings_classes() -> list[type[BaseSettings]]:
    for package in ("archive", "consent_sr", "dicom_gateway", "web_viewer", "photopacs"):
        mod = importlib.import_module(package)
        for info in pkgutil.walk_packages(mod.__path__, prefix=f"{package}."):
            if ".migrations" not in info.name:
                importlib.import_module(info.name)
    found: list[type[BaseSettings]] = []
    todo = list(BaseSettings.__subclasses__())
    while todo:
        cls = todo.pop()
        todo.extend(cls.__subclasses__())
        if cls.__module__.split(".")[0] in {
            "archive",
            "dicom_gateway",
            "web_viewer",
            "photopacs",
            "consent_sr",
        }:
            found.append(cls)
    return found


def test_every_setting_is_documented() -> None:
    classes = _settings_classes()
    assert classes, "no settings classes found"
    names = {
        f"{cls.model_config.get('env_prefix', '')}{field}".upper()
        for cls in classes
        for field in cls.model_fields
    }
    assert "PHOTOPACS_DATA_DIR" in names and "PHOTOPACS_DATABASE_URL" in names
    missing = sorted(n for n in names if f"`{n}`" not in README)
    assert missing == []
    documented = set(
        re.findall(r"`(PHOTOPACS_[A-Z_]+)`", README.split("## Configuration")[1].split("##")[0])
    )
    assert documented == names, "the configuration table lists settings that do not exist"


def test_readme_has_exactly_two_setup_commands_that_exist() -> None:
    setup = README.split("## Set up")[1].split("## ")[0]
    blocks = re.findall(r"```sh\n(.*?)```", setup, flags=re.S)
    commands = [line.split("#")[0].strip() for b in blocks for line in b.splitlines()]
    commands = [c for c in commands if c]
    assert commands == ["bin/start", "bin/test"]
    for command in commands:
        assert (REPO / command).stat().st_mode & 0o111
