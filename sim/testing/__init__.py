"""ikesim's testing kit: Hypothesis strategies (``sim.testing.strategies``) and a pytest plugin.

The strategies need Hypothesis (``pip install 'ikesim[testing]'``); the plugin loads with pytest
and imports the engine only when a test uses it.
"""
