"""Message text: templates rendered per recipient, SMS encoding, length and segmentation, GSM-7
transliteration; send windows in :mod:`runner.message.window`, prices in :mod:`runner.message.cost`."""

from __future__ import annotations

from runner.message.encoding import check_text, measure
from runner.message.template import CompiledTemplate, TemplateProblem, compile_template
from runner.message.transliterate import transliterate

__all__ = ["CompiledTemplate", "TemplateProblem", "check_text", "compile_template", "measure", "transliterate"]
