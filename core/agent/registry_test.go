package agent

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/keyway-dev/keyway/core/config"
	"github.com/keyway-dev/keyway/sdk"
)

// noCAs is an AuthorityPEM for databases that never ask the cluster.
type noCAs struct{}

func (noCAs) PEM(context.Context, sdk.Authority) ([]byte, error) {
	return nil, errors.New("no cluster authority in this test")
}

func pg(name, uri string, labels map[string]string) config.Database {
	return config.Database{Name: name, Protocol: "postgres", URI: uri, Labels: labels}
}

func names(dbs []sdk.Database) string {
	var out []string
	for _, db := range dbs {
		out = append(out, db.Name)
	}
	return strings.Join(out, ",")
}

// notified reports whether ch has a notification waiting.
func notified(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

func TestReplaceDynamic(t *testing.T) {
	static := pg("static", "s:5432", nil)
	static.TrustSystemCertPool = true
	r, err := NewRegistry([]config.Database{static}, noCAs{})
	if err != nil {
		t.Fatal(err)
	}
	changed, stop := r.Subscribe()
	defer stop()

	steps := []struct {
		name           string
		set            []config.Database
		added, removed []string
		listed         string
		notify         bool
	}{
		{"two new", []config.Database{pg("orders", "o:5432", nil), pg("billing", "b:5432", nil)}, []string{"billing", "orders"}, nil, "billing,orders,static", true},
		{"the same again", []config.Database{pg("orders", "o:5432", nil), pg("billing", "b:5432", nil)}, nil, nil, "billing,orders,static", false},
		{"one changed", []config.Database{pg("orders", "o2:5432", nil), pg("billing", "b:5432", nil)}, nil, nil, "billing,orders,static", true},
		{"one removed", []config.Database{pg("orders", "o2:5432", nil)}, nil, []string{"billing"}, "orders,static", true},
		{"a configured name is skipped", []config.Database{pg("orders", "o2:5432", nil), pg("static", "elsewhere:1", nil)}, nil, nil, "orders,static", false},
		{"all removed", nil, nil, []string{"orders"}, "static", true},
	}
	for _, st := range steps {
		added, removed := r.ReplaceDynamic(st.set)
		if !reflect.DeepEqual(added, st.added) || !reflect.DeepEqual(removed, st.removed) {
			t.Fatalf("%s: added %v removed %v, want %v %v", st.name, added, removed, st.added, st.removed)
		}
		if got := names(r.List()); got != st.listed {
			t.Fatalf("%s: listed %s, want %s", st.name, got, st.listed)
		}
		if got := notified(changed); got != st.notify {
			t.Fatalf("%s: notified %v, want %v", st.name, got, st.notify)
		}
	}
	if db, _, err := r.Get(t.Context(), "static"); err != nil || db.URI != "s:5432" {
		t.Fatalf("the configured database was replaced: %+v", db)
	}
	if !r.IsStatic("static") || r.IsStatic("orders") {
		t.Fatal("IsStatic is wrong")
	}
}

func TestDynamicDatabaseCarriesItsCA(t *testing.T) {
	r, err := NewRegistry(nil, noCAs{})
	if err != nil {
		t.Fatal(err)
	}
	d := pg("orders", "o:5432", nil)
	d.CACertPEM, d.CACertFile = "-----BEGIN CERTIFICATE-----\n", "/file/on/the/admin/host.pem"
	r.ReplaceDynamic([]config.Database{d})
	db, found, err := r.Get(t.Context(), "orders")
	if err != nil || !found {
		t.Fatalf("Get: %v %v", found, err)
	}
	if string(db.Trust.CAPEM) != d.CACertPEM {
		t.Fatalf("trust %q, want the resource's CA", db.Trust.CAPEM)
	}
}

func TestHealthIsRecordedAndNotified(t *testing.T) {
	r, err := NewRegistry([]config.Database{pg("a", "a:1", nil)}, noCAs{})
	if err != nil {
		t.Fatal(err)
	}
	changed, stop := r.Subscribe()
	defer stop()
	if ok, _ := r.Health("a"); !ok {
		t.Fatal("an unchecked database counts as healthy")
	}
	if !r.SetHealth("a", errors.New("refused")) || !notified(changed) {
		t.Fatal("a failed check should change the health and notify")
	}
	if ok, why := r.Health("a"); ok || why != "refused" {
		t.Fatalf("health %v %q", ok, why)
	}
	if r.SetHealth("a", errors.New("refused")) || notified(changed) {
		t.Fatal("the same failure again is no change")
	}
	if !r.SetHealth("a", nil) || !notified(changed) {
		t.Fatal("a passed check should change the health back")
	}
	if r.SetHealth("unknown", errors.New("x")) {
		t.Fatal("health of an unknown database was recorded")
	}
}

func TestCheckerRecordsProbes(t *testing.T) {
	r, err := NewRegistry([]config.Database{
		pg("down", "127.0.0.1:1", nil),
		{Name: "relay", Protocol: "tcprelay", URI: "127.0.0.1:2"},
	}, noCAs{})
	if err != nil {
		t.Fatal(err)
	}
	c := &Checker{Registry: r, Probe: func(_ context.Context, db sdk.Database) error {
		if db.Name == "down" {
			return errors.New("connection refused")
		}
		return nil
	}}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	c.CheckAll(ctx)
	if ok, why := r.Health("down"); ok || why != "connection refused" {
		t.Fatalf("a failed check: %v %q", ok, why)
	}
	if ok, _ := r.Health("relay"); !ok {
		t.Fatal("a passed check is not recorded as healthy")
	}
}
