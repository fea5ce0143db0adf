"""Training on a lent GPU machine: what a lease carries (`prepare`), the training commands without the
CLI's imports (`train`), and one lease's script (`run.sh`). See README.md."""
