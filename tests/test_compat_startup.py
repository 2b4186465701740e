"""nerfstudio's external-method stubs: the fast frame check gives the same answers as ``inspect.stack()``."""

import pytest

from nerfstudio.configs import external_methods

from panoptic_nerfstudio.compat import fast_external_method_stubs


def test_the_method_list_builds_its_stubs_silently_and_a_user_built_stub_still_offers_to_install(monkeypatch):
    fast_external_method_stubs()
    fast_external_method_stubs()  # idempotent: wrapped once
    assert external_methods.ExternalMethodDummyTrainerConfig.__post_init__._frame_check
    configs, _ = external_methods.get_external_methods()  # as nerfstudio's method list does: no prompt, no exit
    assert configs
    asked = []
    monkeypatch.setattr(external_methods.Confirm, "ask", lambda *a, **k: asked.append(a) or False)
    method = next(iter(configs.values())).method
    with pytest.raises(SystemExit) as exited:  # as `ns-train <external method>` does: instructions, then exit 0
        external_methods.ExternalMethodDummyTrainerConfig(method_name="m", method=method)
    assert exited.value.code == 0
    assert asked or not method.pip_package


def test_nerfstudio_loading_our_methods_installs_the_fast_check():
    import subprocess
    import sys

    code = (
        "import nerfstudio.configs.method_configs as m\n"
        "from nerfstudio.configs.external_methods import ExternalMethodDummyTrainerConfig as S\n"
        "assert 'panoptic-lifting-lite' in m.all_methods and S.__post_init__._frame_check\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=600)
