package apiserver

import (
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	apiv1 "github.com/keyway-dev/keyway/core/api/proto/keyway/api/v1"
	"github.com/keyway-dev/keyway/core/audit"
)

// fakeClock is a clock the test moves.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time      { return c.t }
func (c *fakeClock) add(d time.Duration) { c.t = c.t.Add(d) }
func newFakeClock() *fakeClock           { return &fakeClock{t: time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)} }
func allowN(l *AddrLimiter, key string) int {
	n := 0
	for l.Allow(key).Allow {
		n++
	}
	return n
}

func TestAddrLimiterRefillsAtItsRate(t *testing.T) {
	clock := newFakeClock()
	l := NewAddrLimiter(Rate{Burst: 5, Per: time.Minute}, 0, clock.now)
	if n := allowN(l, "192.0.2.1"); n != 5 {
		t.Fatalf("a burst of %d allowed, want 5", n)
	}
	d := l.Allow("192.0.2.1")
	if d.Allow || d.RetryAfter <= 0 || d.RetryAfter > 12*time.Second {
		t.Fatalf("over the limit: %+v, want a refusal with a wait of at most 12 s", d)
	}
	if !l.Allow("192.0.2.2").Allow {
		t.Fatal("another address shares the first one's bucket")
	}
	clock.add(12 * time.Second)
	if n := allowN(l, "192.0.2.1"); n != 1 {
		t.Fatalf("%d calls allowed 12 s later, want the one token refilled", n)
	}
	clock.add(time.Hour)
	if n := allowN(l, "192.0.2.1"); n != 5 {
		t.Fatalf("%d calls allowed after an hour, want the full burst of 5", n)
	}
}

func TestAddrLimiterReportsOncePerPeriod(t *testing.T) {
	clock := newFakeClock()
	l := NewAddrLimiter(Rate{Burst: 1, Per: time.Minute}, 0, clock.now)
	l.Allow("192.0.2.1")
	var reports []bool
	for range 4 {
		reports = append(reports, l.Allow("192.0.2.1").Report)
		clock.add(10 * time.Second)
	}
	clock.add(time.Minute)
	l.Allow("192.0.2.1")
	reports = append(reports, l.Allow("192.0.2.1").Report)
	if fmt.Sprint(reports) != "[true false false false true]" {
		t.Fatalf("reports %v: want the first refusal of each minute reported", reports)
	}
}

func TestAddrLimiterMemoryIsBounded(t *testing.T) {
	l := NewAddrLimiter(Rate{Burst: 1, Per: time.Minute}, 100, newFakeClock().now)
	for i := range 1000 {
		l.Allow(fmt.Sprintf("198.51.100.%d/%d", i%256, i))
	}
	if l.Len() != 100 {
		t.Fatalf("%d addresses remembered, want the bound of 100", l.Len())
	}
}

func TestClientKey(t *testing.T) {
	tests := []struct{ addr, want string }{
		{"127.0.0.1:5432", "127.0.0.1"},
		{"[::ffff:192.0.2.7]:1", "192.0.2.7"},
		{"[2001:db8:1:2:3:4:5:6]:443", "2001:db8:1:2::/64"},
		{"[2001:db8:1:2:ffff::1]:443", "2001:db8:1:2::/64"},
		{"[fe80::1%eth0]:80", "fe80::/64"},
	}
	for _, tt := range tests {
		addr, err := net.ResolveTCPAddr("tcp", tt.addr)
		if err != nil {
			t.Fatal(err)
		}
		if got := clientKey(addr); got != tt.want {
			t.Errorf("clientKey(%s) = %q, want %q", tt.addr, got, tt.want)
		}
	}
}

func TestLimitsRefuseWithASentenceAndAuditOnce(t *testing.T) {
	clock := newFakeClock()
	var mu sync.Mutex
	var events []audit.Event
	refused := map[string]int{}
	s := &Server{
		Audit: func(_ context.Context, e audit.Event) { mu.Lock(); events = append(events, e); mu.Unlock() },
		Limits: &Limits{
			Login:   NewAddrLimiter(Rate{Burst: 3, Per: time.Minute}, 0, clock.now),
			API:     NewAddrLimiter(Rate{Burst: 10, Per: time.Minute}, 0, clock.now),
			Refused: func(limit string) { refused[limit]++ },
		},
	}
	from := func(addr string) context.Context {
		a, _ := net.ResolveTCPAddr("tcp", addr)
		return peer.NewContext(context.Background(), &peer.Peer{Addr: a})
	}
	attacker, other := from("127.0.0.1:40000"), from("127.0.0.2:40000")
	var errs []error
	for range 6 {
		errs = append(errs, s.limit(attacker, apiv1.Auth_Login_FullMethodName))
	}
	for i, err := range errs {
		if i < 3 && err != nil {
			t.Fatalf("login %d refused: %v", i, err)
		}
		if i >= 3 && (status.Code(err) != codes.ResourceExhausted || !strings.HasPrefix(status.Convert(err).Message(), "too many login attempts from 127.0.0.1; try again in 20 s")) {
			t.Fatalf("login %d: %v", i, err)
		}
	}
	if err := s.limit(attacker, apiv1.Auth_Join_FullMethodName); status.Code(err) != codes.ResourceExhausted || !strings.Contains(err.Error(), "too many join attempts from 127.0.0.1") {
		t.Fatalf("a join after the logins used the address's budget: %v", err)
	}
	if err := s.limit(other, apiv1.Auth_Login_FullMethodName); err != nil {
		t.Fatalf("another address was refused: %v", err)
	}
	if err := s.limit(attacker, apiv1.User_ListDatabases_FullMethodName); err != nil {
		t.Fatalf("a call outside the login limit was refused: %v", err)
	}
	for range 5 {
		_ = s.limit(attacker, apiv1.Auth_Ping_FullMethodName)
	}
	err := s.limit(attacker, apiv1.Auth_Ping_FullMethodName)
	if status.Code(err) != codes.ResourceExhausted || !strings.Contains(err.Error(), "too many requests to the cluster API from 127.0.0.1") {
		t.Fatalf("over the API limit: %v", err)
	}
	if refused["login"] != 4 || refused["api"] < 1 {
		t.Fatalf("refusals counted: %v", refused)
	}
	var loginEvents int
	for _, e := range events {
		if e.Event != audit.APIRateLimited || e.Success || e.ClientAddr != "127.0.0.1:40000" {
			t.Fatalf("audit event %+v", e)
		}
		if e.Target == apiv1.Auth_Login_FullMethodName {
			loginEvents++
		}
	}
	if loginEvents != 1 {
		t.Fatalf("%d audit events for four refused logins and joins in one minute, want 1", loginEvents)
	}
}
