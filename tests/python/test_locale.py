"""test_locale.py STORE: the cxr Python package in a process whose locale writes numbers with a
decimal comma (locale.setlocale(LC_ALL, 'de_DE.UTF-8'), made by tests/common/with_locale.sh):
augmentation specs parse and format with their '.', a Loader takes an explicit spec, and the
process's own formatting keeps its locale. Before the fix cxr.augment_params("scale=0.95:1.05")
raised CxrError ("bad item") there, and augment_spec wrote "scale=0,9:1,1"."""

import locale
import re
import sys

from common import check, finish, need

need("numpy")
import cxr  # noqa: E402

store = sys.argv[1]
try:
    locale.setlocale(locale.LC_ALL, "de_DE.UTF-8")
except locale.Error as e:
    print(f"de_DE.UTF-8 cannot be set ({e}): run by tests/common/with_locale.sh", file=sys.stderr)
    sys.exit(1)
check(locale.format_string("%.1f", 0.5) == "0,5", "the comma locale is active")

check(cxr.augment_spec(cxr.augment_params("rotate=5,scale=0.95:1.05")).startswith(
    "rotate=5,scale=0.95:1.05,"), "an explicit spec parses")
spec = cxr.augment_spec(cxr.augment_params("default"))
check("scale=0.9:1.1" in spec and not re.search(r"\d,\d", spec),
      f"the default spec written with '.': {spec}")
check(cxr.augment_spec(cxr.augment_params(spec)) == spec, "a spec reads back as written")
ld = cxr.Loader(store, "train", batch=4, augment="rotate=5,scale=0.95:1.05")
images, labels = next(iter(ld.epoch(0, copy=True)))
check(images.shape[0] == 4, "an augmented batch in the comma locale")
ld.close()
check(locale.format_string("%.1f", 0.5) == "0,5", "the process's locale kept")
finish("test_locale")
