// Package supervisor launches keyway's plugins, keeps them healthy and
// stops them. Built-in plugins are served by the keyway binary re-executed
// with a hidden subcommand; external plugins run from the command and
// checksum in their plugin block. Every launch goes through the same steps:
// checksum, exec over go-plugin (gRPC, AutoMTLS), info and API version,
// configuration decoded against the plugin's own schema, SetConfig. A
// plugin that exits is restarted with backoff; one that keeps crashing is
// marked failed.
package supervisor
