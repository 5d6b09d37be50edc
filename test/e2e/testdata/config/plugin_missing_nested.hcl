cluster_name = "example"
data_dir = "data"

plugin "tcprelay" {
  config {
    upstream = "127.0.0.1:5432"
    tls {
      cert_file = "missing.crt"
    }
  }
  sha256  = "{{sha256}}"
  command = "{{tcprelay}}"
}
