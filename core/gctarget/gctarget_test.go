package gctarget

import (
	"runtime/debug"
	"slices"
	"testing"
)

func TestEnvironSetsTheTargetUnlessTheOperatorDid(t *testing.T) {
	tests := []struct {
		name string
		env  []string
		want []string
	}{
		{"unset", []string{"PATH=/bin"}, []string{"PATH=/bin", "GOGC=50"}},
		{"set by the operator", []string{"GOGC=200", "PATH=/bin"}, []string{"GOGC=200", "PATH=/bin"}},
		{"off", []string{"GOGC=off"}, []string{"GOGC=off"}},
		{"empty, which the runtime ignores", []string{"GOGC=", "PATH=/bin"}, []string{"PATH=/bin", "GOGC=50"}},
		{"a longer name is another variable", []string{"GOGCX=1"}, []string{"GOGCX=1", "GOGC=50"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Environ(slices.Clone(tt.env)); !slices.Equal(got, tt.want) {
				t.Errorf("Environ(%q) = %q, want %q", tt.env, got, tt.want)
			}
		})
	}
}

func TestApplySetsThisProcesssTarget(t *testing.T) {
	before := debug.SetGCPercent(100)
	defer debug.SetGCPercent(before)

	if Apply(func(string) string { return "300" }) {
		t.Fatal("Apply overrode GOGC set by the operator")
	}
	if got := debug.SetGCPercent(100); got != 100 {
		t.Fatalf("with GOGC set, the target became %d; want it left at 100", got)
	}
	if !Apply(func(string) string { return "" }) {
		t.Fatal("Apply did not set the target with GOGC unset")
	}
	if got := debug.SetGCPercent(100); got != Percent {
		t.Fatalf("the target is %d, want %d", got, Percent)
	}
}
