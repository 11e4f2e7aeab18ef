"""The offloading game (Model A, spec B.7-B.9): cost tables, potential, best responses, GOALIT."""
