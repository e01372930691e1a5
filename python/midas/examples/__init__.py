"""Built-in example data sets (parameter files and grains) used by ``midas demo``."""
