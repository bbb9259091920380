"""Job machinery: the job and batch state machine, the queues that carry job ids, the process
that runs a job, and the reconciler that repairs what crashes leave behind."""
