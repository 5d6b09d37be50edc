cluster_name = "example"
data_dir = "data"

proxy {
  listen = "0.0.0.0:3080"
}
