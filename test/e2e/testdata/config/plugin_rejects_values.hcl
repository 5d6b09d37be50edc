cluster_name = "example"
data_dir = "data"

plugin "tcprelay" {
  config {
    upstream     = "db.internal"
    dial_timeout = "soon"
  }
  sha256  = "{{sha256}}"
  command = "{{tcprelay}}"
}
