cluster_name = "Example Cluster"
data_dir = "data"
log_level = "verbose"
