"""Offline analysis (`emolive analyze`): one file on its own clock with the voice look-ahead, and batches of files
with resume, sidecars, process pools or Dask, and a summary."""
