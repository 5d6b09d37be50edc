cluster_name = "example"
data_dir = "data"

plugin "postgres" {
  config {
    idle_timeout = "5m"
  }
}
