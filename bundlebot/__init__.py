"""bundlebot: a conversational shopping assistant that answers with bundles of real catalog items."""

__version__ = "0.1.0"
