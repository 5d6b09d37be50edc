cluster_name = "example"
data_dir = "data"

plugin "postgres" {
  log_level = "debug"
