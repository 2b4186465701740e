"""Label maps: from a 2D model's classes (COCO panoptic's 133 for the Mask2Former checkpoints) to the scene's label set.

A label map is a small JSON file::

    {"unmapped": "otherprop",                      # or "void"
     "mapping": {"couch": "sofa", "wall-brick": "wall", "mirror-stuff": null},
     "categories": [{"id": 6, "name": "sofa", "isthing": true, "color": [140, 86, 75]}, ...]}

``categories`` is the scene's label set, written verbatim as ``panoptic_classes.json`` (same schema, so it is parsed
by the format's own reader). A model class maps to the category ``mapping`` names (``null``: void); a class the
mapping does not name maps to the category spelled like it, if any; everything else goes to ``unmapped``: void, or
a catch-all category such as ``otherprop``.

Class probabilities are mapped by summing every model class's probability into its target (the paper's rule), with
one extra channel collecting the classes that become void: a pixel whose most likely outcome is "one of the unmapped
classes" becomes void instead of being forced into the nearest mapped class.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import numpy as np
import torch

from panoptic_nerfstudio.data.panoptic_format import ClassTable, PanopticFormatError, _read_json, read_classes

VOID = -1
"""Target index of model classes whose pixels become void."""

SHIPPED_DIR = Path(__file__).parent / "label_maps"
"""Label maps installed with the package, selectable by file stem (``--label-map indoor21``)."""


def normalise_name(name: str) -> str:
    """Class names compare case-insensitively and ignore stray spaces (some hub configs carry ``"bed "``)."""
    return " ".join(str(name).lower().split())


@dataclass(frozen=True)
class LabelAssignment:
    """A label map resolved against one model's class list."""

    target: np.ndarray
    """[C_model] int64: dense index of each model class's category (0..K-1), or VOID."""
    num_classes: int
    """K, the scene's number of categories; channel K of mapped probabilities is the void channel."""
    unknown_sources: List[str]
    """Names in the map's ``mapping`` that the model does not have (typos, or a map written for another model)."""

    @property
    def void_channel(self) -> int:
        return self.num_classes

    def project(self, scores: torch.Tensor, dim: int = 0) -> torch.Tensor:
        """Sum model-class scores along ``dim`` into K category channels plus a last, void channel."""
        index = torch.as_tensor(self.target, device=scores.device)
        index = torch.where(index == VOID, torch.full_like(index, self.num_classes), index)
        shape = list(scores.shape)
        if shape[dim] != len(self.target):
            raise ValueError(f"scores have {shape[dim]} classes along dim {dim}, the model has {len(self.target)}")
        shape[dim] = self.num_classes + 1
        return scores.new_zeros(shape).index_add_(dim, index, scores)


@dataclass(frozen=True)
class LabelMap:
    """A parsed label-map file."""

    path: Path
    classes: ClassTable
    """The scene's label set (becomes panoptic_classes.json)."""
    mapping: Dict[str, Optional[int]]
    """Normalised model class name -> category id, or None for void."""
    unmapped: Optional[int]
    """Category id for model classes the map does not name; None: void."""

    def with_unmapped(self, choice: str, where: str = "--unmapped") -> "LabelMap":
        """The same map with another fallback: ``"void"`` or a category name (``--unmapped``)."""
        return replace(self, unmapped=self._fallback(choice, where=where))

    def target_of(self, class_name: str) -> int:
        """Dense category index of a model class, or VOID."""
        key = normalise_name(class_name)
        if key in self.mapping:
            category_id = self.mapping[key]
        else:
            category_id = self._by_name.get(key, self.unmapped)
        return VOID if category_id is None else self.classes.index_of(category_id)

    def assign(self, class_names: Sequence[str]) -> LabelAssignment:
        """Resolve the map against a model's classes (index = the model's label id)."""
        target = np.array([self.target_of(name) for name in class_names], dtype=np.int64)
        known = {normalise_name(name) for name in class_names}
        unknown = sorted(name for name in self.mapping if name not in known)
        if not known & (set(self.mapping) | set(self._by_name)):
            shown = ", ".join(list(class_names)[:6]) + (" ..." if len(class_names) > 6 else "")
            raise PanopticFormatError(
                self.path,
                f"label map names none of the model's {len(class_names)} classes ({shown}); "
                "it was written for another model",
            )
        return LabelAssignment(target=target, num_classes=len(self.classes), unknown_sources=unknown)

    @property
    def _by_name(self) -> Dict[str, int]:
        return {normalise_name(c.name): c.id for c in self.classes.categories}

    def _fallback(self, choice: str, where: str) -> Optional[int]:
        if normalise_name(choice) == "void":
            return None
        category = self._by_name.get(normalise_name(choice))
        if category is None:
            raise PanopticFormatError(
                self.path, f"{where} is {choice!r}: expected 'void' or one of the map's categories ({self._names()})"
            )
        return category

    def _names(self) -> str:
        names = self.classes.names
        return ", ".join(names[:12]) + (" ..." if len(names) > 12 else "")


def shipped_label_maps() -> List[str]:
    return sorted(p.stem for p in SHIPPED_DIR.glob("*.json"))


def resolve_label_map_path(spec: str | Path) -> Path:
    """A shipped map's name (``coco133``, ``indoor21``) or a path to a JSON file."""
    text = str(spec)
    if text in shipped_label_maps():
        return SHIPPED_DIR / f"{text}.json"
    path = Path(text).expanduser()
    if path.is_file():
        return path
    raise PanopticFormatError(
        path, f"no such label map file; give a JSON file or one of the shipped maps: {', '.join(shipped_label_maps())}"
    )


def load_label_map(spec: str | Path) -> LabelMap:
    path = resolve_label_map_path(spec)
    classes = read_classes(path)
    data = _read_json(path)
    raw_mapping = data.get("mapping", {})
    if not isinstance(raw_mapping, dict):
        raise PanopticFormatError(path, '"mapping" must be an object from model class names to category names')
    by_name = {normalise_name(c.name): c.id for c in classes.categories}
    if len(by_name) != len(classes):
        raise PanopticFormatError(path, "two categories share a name (names are compared case-insensitively)")
    mapping: Dict[str, Optional[int]] = {}
    for source, target in raw_mapping.items():
        if target is None:
            mapping[normalise_name(source)] = None
            continue
        if not isinstance(target, str) or normalise_name(target) not in by_name:
            raise PanopticFormatError(
                path, f'"mapping" sends {source!r} to {target!r}, which is not a category name (or null for void)'
            )
        mapping[normalise_name(source)] = by_name[normalise_name(target)]
    unmapped = data.get("unmapped", "void")
    if not isinstance(unmapped, str):
        raise PanopticFormatError(path, f'"unmapped" is {unmapped!r}: expected "void" or a category name')
    return LabelMap(path=path, classes=classes, mapping=mapping, unmapped=None).with_unmapped(unmapped, '"unmapped"')
