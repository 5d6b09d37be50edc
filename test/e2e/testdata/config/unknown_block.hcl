cluster_name = "example"
data_dir = "data"

gateway {
  listen = "0.0.0.0:3080"
}
