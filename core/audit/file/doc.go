// Package file is keyway's default audit sink: events appended as JSON
// lines to a file that rotates by size, plus search and tail over the
// active file and its rotated predecessors.
//
// # Files
//
// The active file is Options.Path (DATA_DIR/audit/events.log by
// default). When appending would take it past Options.MaxSizeBytes, it is
// renamed PATH.1, an existing PATH.1 becomes PATH.2 and so on, and the
// oldest beyond Options.MaxFiles is deleted; a new, empty PATH is then
// created. PATH.1 is therefore the newest rotated file and PATH.N the
// oldest, and reading PATH.N ... PATH.1, PATH in that order yields the
// events in the order they were written.
//
// Each line is one audit.Event encoded as a JSON object and terminated by
// a newline. A line without its newline at the end of a file is one whose
// write was interrupted (a crash, a full disk); readers skip it and count
// it, and the sink terminates it with a newline before appending again.
//
// Files are created with mode 0600 and their directory with 0700.
package file
