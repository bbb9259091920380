"""What a job computes, apart from how it is run: the per-series and global training pipelines
and the one registration step both end with."""
