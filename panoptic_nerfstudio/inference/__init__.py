"""The one panoptic inference rule and the instance table every command applies."""
