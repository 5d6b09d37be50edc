cluster_name = "example"
data_dir = "data"
listen_addr = "0.0.0.0:3080"
