"""The offloading game (Model A, docs/model.md B.7-B.9): cost tables, potential, best responses, GOALIT."""
