"""Install tools/torchvision_cpu_compat.py into the running interpreter's site-packages (see that module)."""

import shutil
import sysconfig
from pathlib import Path

site = Path(sysconfig.get_paths()["purelib"])
shutil.copy(Path(__file__).with_name("torchvision_cpu_compat.py"), site / "torchvision_cpu_compat.py")
(site / "torchvision_cpu_compat.pth").write_text("import torchvision_cpu_compat; torchvision_cpu_compat.install()\n")
print(f"installed torchvision CPU compatibility hook in {site}")
