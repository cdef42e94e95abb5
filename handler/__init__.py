"""sdrs-cleanup: the function (handler.app on Lambda, handler.functiongraph on FunctionGraph).

Importing the package first takes two imports off every cold start, each guarded by
tests/unit/test_cold_start_savings.py (which fails if an upstream release moves what they rely on):

- pydantic's plugin discovery: when it builds its first model, pydantic imports
  `importlib.metadata` (with zipfile, lzma, email parsing) and scans every installed
  distribution's entry points for plugins, about 10 ms; this function has no pydantic plugin.
  Its loader module gets a stand-in that finds none, which is what
  `PYDANTIC_DISABLE_PLUGINS=__all__` makes the real one answer, without the import.
- Powertools' JMESPath utilities (jmespath itself, gzip, about 6 ms), which its Logger imports
  for `inject_lambda_context(correlation_id_path=...)`, unused here: a stand-in module imports
  them when one of their names is first used.
"""

import importlib
import sys
import types
from typing import Any

_PYDANTIC_PLUGIN_LOADER = "pydantic.plugin._loader"
_POWERTOOLS_JMESPATH = "aws_lambda_powertools.utilities.jmespath_utils"


def _no_pydantic_plugins() -> None:
    if _PYDANTIC_PLUGIN_LOADER in sys.modules:  # pydantic was imported before us: nothing to spare
        return
    loader = types.ModuleType(_PYDANTIC_PLUGIN_LOADER, "sdrs-cleanup: pydantic plugins are not looked for")
    loader.get_plugins = lambda: ()  # type: ignore[attr-defined]
    sys.modules[_PYDANTIC_PLUGIN_LOADER] = loader


class _ImportedOnUse(types.ModuleType):
    """A stand-in in sys.modules for a module imported when one of its names is first used."""

    def __getattr__(self, attr: str) -> Any:
        if attr.startswith("__"):  # what the import system asks of any module: not a use
            raise AttributeError(attr)
        if sys.modules.get(self.__name__) is self:
            del sys.modules[self.__name__]
        return getattr(importlib.import_module(self.__name__), attr)


def _lazy_powertools_jmespath() -> None:
    if _POWERTOOLS_JMESPATH not in sys.modules:
        sys.modules[_POWERTOOLS_JMESPATH] = _ImportedOnUse(_POWERTOOLS_JMESPATH)


_no_pydantic_plugins()
_lazy_powertools_jmespath()
