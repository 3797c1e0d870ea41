"""Helpers shared by the tests: independent oracles, planted games, tiny models and run
fixtures. Test modules import from here (``from helpers.games import planted_result``),
never from one another; nothing here is collected as a test."""
