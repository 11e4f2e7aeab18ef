"""Pure, vectorised physics of the system model: radio, LLM roofline, quality, energy (spec B.4-B.7)."""
