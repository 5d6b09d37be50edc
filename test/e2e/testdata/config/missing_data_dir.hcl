cluster_name = "example"
