// Command tcprelay is an example keyway protocol plugin, built only
// against keyway's SDK: it terminates TLS (when configured), relays each
// client connection to one upstream TCP address, and counts the bytes.
package main

import "github.com/keyway-dev/keyway/sdk"

func main() {
	sdk.Serve(newRelay())
}
