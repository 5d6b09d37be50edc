package server

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestServeUntil checks how a part's serve loop and the process's
// context end each other: an error before the context ends is the
// part's failure, which ends the process; the context ending stops the
// loop and waits for it, and what the stopped loop returns is no
// failure.
func TestServeUntil(t *testing.T) {
	failure := errors.New("accept: too many open files")
	tests := []struct {
		name string
		// failFirst makes serve fail before the context ends.
		failFirst bool
		want      error
	}{
		{name: "serve fails first", failFirst: true, want: failure},
		{name: "context ends first", want: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			release := make(chan struct{})
			stopped := false
			serve := func() error {
				if tt.failFirst {
					return failure
				}
				<-release
				return errors.New("use of closed network connection")
			}
			stop := func() { stopped = true; close(release) }
			if !tt.failFirst {
				cancel()
			}
			done := make(chan error, 1)
			go func() { done <- serveUntil(ctx, serve, stop) }()
			select {
			case err := <-done:
				if !errors.Is(err, tt.want) || (tt.want == nil && err != nil) {
					t.Fatalf("serveUntil = %v, want %v", err, tt.want)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("serveUntil did not return")
			}
			if stopped == tt.failFirst {
				t.Fatalf("stop called = %v, want %v", stopped, !tt.failFirst)
			}
		})
	}
}
