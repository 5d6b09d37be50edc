package agent

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

func TestKnownProxiesRoundTrip(t *testing.T) {
	dir := t.TempDir()
	if set, err := LoadKnownProxies(dir); err != nil || set != nil {
		t.Fatalf("before any save: %v, %v", set, err)
	}
	if err := os.MkdirAll(identityDir(dir), 0o700); err != nil {
		t.Fatal(err)
	}
	in := []KnownProxy{{Addr: "b:3080", HostID: "spiffe://c/host/b"}, {Addr: ""}, {Addr: "a:3080"}, {Addr: "b:3080"}}
	if err := SaveKnownProxies(dir, in); err != nil {
		t.Fatal(err)
	}
	got, err := LoadKnownProxies(dir)
	if err != nil {
		t.Fatal(err)
	}
	want := []KnownProxy{{Addr: "a:3080"}, {Addr: "b:3080", HostID: "spiffe://c/host/b"}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("loaded %+v, want %+v", got, want)
	}
	if err := os.WriteFile(filepath.Join(identityDir(dir), "proxies.json"), []byte("{"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadKnownProxies(dir); err == nil {
		t.Fatal("a damaged file loaded")
	}
}
