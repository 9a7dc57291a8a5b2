"""Hyperparameter files: plain YAML mappings only, read with safe_load."""

from __future__ import annotations

import pytest

from v2f_bench.configs import load_config
from v2f_bench.errors import UserError


def test_a_flat_mapping_loads_and_an_empty_file_means_defaults(tmp_path):
    (tmp_path / "ok.yaml").write_text("g_lr: 2.0e-4\npixel_loss: l1\ninvert_labels: true\n")
    assert load_config(tmp_path / "ok.yaml") == {"g_lr": 2.0e-4, "pixel_loss": "l1", "invert_labels": True}
    (tmp_path / "empty.yaml").write_text("")
    assert load_config(tmp_path / "empty.yaml") == {}


@pytest.mark.parametrize(
    "text, message",
    [
        pytest.param("!!python/object/apply:os.system ['echo owned']\n", "Python object tags are refused", id="python-tag"),
        pytest.param("- g_lr\n- d_lr\n", "expected a mapping", id="a-list"),
        pytest.param("g_lr: [1, 2]\n", "single number", id="nested-value"),
        pytest.param("g_lr: 1\n  d_lr: 2\n", "not plain YAML", id="bad-indentation"),
    ],
)
def test_anything_else_is_a_one_line_error_naming_the_file(tmp_path, text, message):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(UserError, match=message) as error:
        load_config(path)
    assert str(path) in str(error.value) and "\n" not in str(error.value)


def test_a_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(UserError, match="cannot read"):
        load_config(tmp_path / "missing.yaml")
