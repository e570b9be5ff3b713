"""HTML reports of runs with matplotlib figures (``recsft report``)."""
