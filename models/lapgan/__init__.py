"""LAPGAN (Denton et al. 2015): a Laplacian pyramid of generators, each drawing the
high-frequency residual of its resolution from the upsampled coarser image."""
