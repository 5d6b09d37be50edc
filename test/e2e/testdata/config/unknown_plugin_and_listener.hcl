cluster_name = "example"
data_dir = "data"

plugin "mysql" {
}

listener "db" {
  address  = "127.0.0.1"
  protocol = "mongodb"
}
