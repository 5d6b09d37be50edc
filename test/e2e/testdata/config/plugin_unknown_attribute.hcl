cluster_name = "example"
data_dir = "data"

plugin "tcprelay" {
  config {
    upstrem = "127.0.0.1:5432"
  }
  sha256  = "{{sha256}}"
  command = "{{tcprelay}}"
}
