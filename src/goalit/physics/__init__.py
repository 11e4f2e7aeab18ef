"""Pure, vectorised physics of the system model: radio, LLM roofline, quality, energy (docs/model.md B.4-B.7)."""
