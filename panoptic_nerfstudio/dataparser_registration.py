"""Registers ``panoptic-data`` with nerfstudio.

Kept apart from the method configs: nerfstudio discovers dataparsers while its
registry module is still importing, so this module must import nothing that
imports that registry back.
"""

from nerfstudio.plugins.registry_dataparser import DataParserSpecification

from panoptic_nerfstudio.data.panoptic_dataparser import PanopticDataParserConfig

panoptic_data = DataParserSpecification(
    config=PanopticDataParserConfig(),
    description="nerfstudio dataset with COCO-panoptic masks beside the images (panoptic-nerfstudio).",
)
