"""Host settings are validated before any host is touched; errors name host, key, value, rule."""

import pytest

from gpufleet.config import ConfigError, HostConfig, defaults


def _config(**overrides):
    data = {**defaults(), **overrides}
    return HostConfig.from_data("gpu03", data.get)


def test_group_data_all_defaults_are_valid():
    config = _config()
    assert config.vllm_version is None  # "auto"
    assert config.pins().allow_source_build is False


def test_pins_come_from_the_settings():
    pins = _config(vllm_version="0.8.5.post1", torch_version="2.6.0+cu124").pins()
    assert (pins.vllm, pins.torch_version, pins.torch_cuda) == ("0.8.5.post1", "2.6.0", "cu124")


def test_gpu_name_is_normalised_through_the_catalogue():
    assert _config(gpu="tesla p40").gpu == "Tesla P40"


@pytest.mark.parametrize(
    ("key", "value", "rule"),
    [
        ("vllm_version", "0.8.x", "not a PEP 440 version"),
        ("vllm_version", 8, "must be a version string"),
        ("gpu", "Tesla Z900", "unknown GPU"),
        ("vllm_source", "conda", "must be one of"),
        ("pypi_index_url", "ftp://mirror/simple", "http(s)://"),
        ("envs_dir", "envs", "absolute path"),
        ("allow_reboot", "yes", "True or False"),
        ("chat_port", 70000, "integer from 1 to 65535"),
        ("max_unavailable", 0, "integer from 1"),
    ],
)
def test_bad_values_are_refused_naming_host_key_value_and_rule(key, value, rule):
    with pytest.raises(ConfigError) as refused:
        _config(**{key: value})
    message = str(refused.value)
    assert message.startswith(f"gpu03: {key}={value!r}: ")
    assert rule.lower() in message.lower()


def test_a_missing_setting_points_at_group_data():
    data = defaults().copy()
    del data["envs_dir"]
    with pytest.raises(ConfigError, match=r"gpu03: envs_dir=None: missing .*group_data/all\.py"):
        HostConfig.from_data("gpu03", data.get)
