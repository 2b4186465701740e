"""Fields of the segmentation heads and a faster torch hash grid."""
