"""Data files read by the package: the office and body table (offices.tsv) and the rivers, lakes and mountains of
the gazetteer (waters.tsv), each entry with its source."""
