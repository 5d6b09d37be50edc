// Package sdk is what a keyway plugin imports. A plugin is a separate
// process that the keyway core launches and talks to over gRPC
// (hashicorp/go-plugin with automatic mutual TLS). Its main function is a
// single call:
//
//	func main() {
//		sdk.Serve(relay.New())
//	}
//
// Every plugin implements Plugin (its name, kind, configuration schema,
// configuration and health). A protocol plugin also implements
// ProtocolPlugin and receives each client connection as a handed-off file
// descriptor, so it owns the session's bytes, and counts what it does in
// Session.Metrics, which the host reads and exports; a CA plugin
// implements CAPlugin; an authorisation plugin implements AuthzPlugin.
//
// The package keeps its dependencies to go-plugin, gRPC, protobuf and hclog,
// because every plugin inherits them.
package sdk
