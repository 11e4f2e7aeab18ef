"""What the world is: users, devices, edge servers, model instances, quantization levels (docs/model.md B.3).

TOML loading and validation, the embedded scenarios, and the hardware/LLM profile catalogue.
"""

from goalit.scenario.embedded import EMBEDDED, embedded_scenario
from goalit.scenario.model import AccessPoint, GameParams, Instance, Radio, Scenario, Server, Users
from goalit.scenario.profiles import HardwareProfile, Level, LLMProfile, builtin_profiles, load_profile_file
from goalit.scenario.toml_io import dump_scenario, load_scenario_file, parse_scenario

__all__ = [
    "EMBEDDED", "AccessPoint", "GameParams", "HardwareProfile", "Instance", "LLMProfile", "Level", "Radio",
    "Scenario", "Server", "Users", "builtin_profiles", "dump_scenario", "embedded_scenario",
    "load_profile_file", "load_scenario_file", "parse_scenario",
]  # fmt: skip
